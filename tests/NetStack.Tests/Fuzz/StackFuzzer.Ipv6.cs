using System.Buffers.Binary;
using System.Net;
using NetStack.Ipv6;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Fuzz;

/// <summary>
/// The IPv6 half of the fuzzer: frames for the IPv6 input (ip6_rcv_core, the extension header
/// walk of ip6_input_finish, reassembly, ICMPv6 with neighbour discovery and Packet Too Big, UDP
/// and TCP over IPv6), malformed at the field level the way each layer checks: truncated fixed
/// headers, versions, payload lengths, extension header chains and loops, tiny, overlapping and
/// unending fragments, ICMPv6 and NDP messages with bad lengths, codes and options, bad transport
/// checksums. A frame the generator knows to be malformed must be counted by an Ip6 drop counter
/// (never dropped silently); any frame may change the stack only as the checker allows.
/// </summary>
internal sealed partial class StackFuzzer
{
    private static readonly UInt128 Local6 = Ipv6Address.Parse("fd00::1"), Remote6 = Ipv6Address.Parse("fd00::2");
    private static readonly UInt128[] Peers6 = [Remote6, Ipv6Address.Parse("fd00::3"), Ipv6Address.LinkLocal(RemoteMac)];
    private const ushort Udp6Port = 5355;
    private int _udp6Fd, _raw6Fd;

    /// <summary>Set when the frame just generated is malformed in a way ip6_rcv_core() must count (and no byte mutation followed).</summary>
    private bool _expect6HeaderDrop;

    private void SetUpIpv6()
    {
        Net.AddIpv6Address(Dev, IPAddress.Parse("fd00::1"), 64);
        _udp6Fd = Dgram6(SOCK_DGRAM, 0, Udp6Port);
        _raw6Fd = Dgram6(SOCK_RAW, IPPROTO_ICMPV6, -1);
    }

    private int Dgram6(int type, int protocol, int port)
    {
        int fd = SocketCalls.Socket(Files, AF_INET6, type | SOCK_NONBLOCK, protocol);
        Check(fd >= 0, $"socket(AF_INET6, {type}, {protocol}) = {fd}");
        if (port > 0) Check(SocketCalls.Bind(Files, fd, SockAddr.In6(UInt128.Zero, (ushort)port)) == 0, "bind dgram6");
        _dgram.Add(fd);
        return fd;
    }

    /// <summary>The IPv6 sockets' side of the application: sends that make the stack talk IPv6, reads that drain the queues.</summary>
    private void Application6()
    {
        var g = _g;
        switch (g.R.Next(12))
        {
            case 0: SocketCalls.Sendto(Files, _udp6Fd, _buf.AsSpan(0, g.Pick(0, 10, 1452, 1453, 3000)), MSG_DONTWAIT, SockAddr.In6(g.Pick(Peers6), PeerUdpPort, scopeId: (uint)Dev.IfIndex)); break;
            case 1: SocketCalls.Sendto(Files, _raw6Fd, Echo6(), MSG_DONTWAIT, SockAddr.In6(g.Pick(Peers6), 0, scopeId: (uint)Dev.IfIndex)); break;
            case 2: SocketCalls.Recv(Files, _udp6Fd, _buf, MSG_DONTWAIT); break;
            case 3: SocketCalls.Recv(Files, _raw6Fd, _buf, MSG_DONTWAIT); break;
            case 4: SocketCalls.Recv(Files, _udp6Fd, _buf, MSG_DONTWAIT | MSG_ERRQUEUE); break;
            case 5: SocketCalls.Setsockopt(Files, _udp6Fd, SOL_IPV6, IPV6_RECVERR, g.R.Next(2)); break;
            case 6: SocketCalls.Setsockopt(Files, _udp6Fd, SOL_IPV6, IPV6_MTU_DISCOVER, g.R.Next(6)); break;
        }
    }

    private static byte[] Echo6()
    {
        var e = new byte[8 + 16];
        e[0] = Icmpv6Type.EchoRequest;
        return e;
    }

    /// <summary>One IPv6 case: a list of frames (fragments come several at a time).</summary>
    private List<byte[]> Ipv6Frames()
    {
        var g = _g;
        var frames = new List<byte[]>(1);
        _expect6HeaderDrop = false;
        switch (g.R.Next(12))
        {
            case 0: // a fixed header cut short
                {
                    _expect6HeaderDrop = true;
                    var b = g.Bytes(g.R.Next(0, Ipv6Header.Length));
                    if (b.Length > 0) b[0] = (byte)(0x60 | (b[0] & 0x0F));
                    frames.Add(Eth6(b));
                    break;
                }
            case 1: // not version 6
                {
                    _expect6HeaderDrop = true;
                    var p = Ip6(g.Pick(Peers6), Local6, NextHdr.Udp, Udp6(Udp6Port, g.Bytes(8)));
                    p[0] = (byte)((g.Pick(0, 4, 5, 7, 15) << 4) | (p[0] & 0x0F));
                    frames.Add(Eth6(p));
                    break;
                }
            case 2: // a payload length past the frame
                {
                    _expect6HeaderDrop = true;
                    var p = Ip6(g.Pick(Peers6), Local6, NextHdr.Udp, Udp6(Udp6Port, g.Bytes(g.R.Next(0, 64))));
                    int plen = p.Length - Ipv6Header.Length;
                    BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(4), (ushort)g.Pick(plen + 1, plen + 8, 0xFFFF));
                    frames.Add(Eth6(p));
                    break;
                }
            case 3: frames.Add(Eth6(ExtHeaderChain(g.R.Next(1, 8)))); break;
            case 4: frames.Add(Eth6(ExtHeaderChain(g.R.Next(20, 120)))); break; // a long chain: the walk must end
            case 5: frames.AddRange(Fragments6()); break;
            case 6: frames.Add(Eth6(Ip6(g.Pick(Peers6), Local6, NextHdr.Icmp, Icmp6Error()))); break;
            case 7: frames.Add(Ndisc6()); break;
            case 8:
                {
                    var m = Icmp6Msg(g.Pick(Icmpv6Type.EchoRequest, Icmpv6Type.EchoReply), (byte)(g.Chance(4) ? g.R.Next(256) : 0), (uint)g.R.Next(), g.Bytes(g.R.Next(0, 200)));
                    frames.Add(Eth6(Ip6(g.Pick(Peers6), g.Chance(6) ? Ipv6Address.Parse("ff02::1") : Local6, NextHdr.Icmp, Cut(m))));
                    break;
                }
            case 9:
                {
                    var u = Udp6(g.Chance(3) ? (ushort)g.R.Next(65536) : Udp6Port, g.Bytes(g.R.Next(0, 300)));
                    switch (g.R.Next(5))
                    {
                        case 0: u[6] ^= 0x5A; break; // bad checksum
                        case 1: u[6] = u[7] = 0; break; // zero checksum: refused over IPv6
                        case 2: BinaryPrimitives.WriteUInt16BigEndian(u.AsSpan(4), (ushort)g.Pick(0, 7, u.Length + 1, 0xFFFF)); break;
                    }
                    frames.Add(Eth6(Ip6(g.Pick(Peers6), Local6, NextHdr.Udp, u, fixUdp: false)));
                    break;
                }
            case 10:
                {
                    var t = new byte[20 + g.R.Next(0, 40)];
                    g.R.NextBytes(t);
                    BinaryPrimitives.WriteUInt16BigEndian(t.AsSpan(2), g.Pick<ushort>(ListenPort, SmallListenPort, (ushort)g.R.Next(65536)));
                    t[12] = (byte)(g.Pick(5, 5, 4, 15) << 4);
                    t[13] = g.TcpFlagsCombo();
                    if (g.R.Next(3) > 0) FillChecksum6(t, Remote6, Local6, 6, 16);
                    frames.Add(Eth6(Ip6(Remote6, Local6, 6, t)));
                    break;
                }
            default: // addresses a host must refuse, and protocols nobody handles
                {
                    UInt128 src = g.R.Next(5) switch { 0 => Ipv6Address.Loopback, 1 => Ipv6Address.Parse("ff02::1"), 2 => 0, _ => g.Pick(Peers6) };
                    UInt128 dst = g.R.Next(6) switch { 0 => Ipv6Address.Loopback, 1 => Ipv6Address.Parse("ff01::1"), 2 => Ipv6Address.Parse("ff00::1"), 3 => Ipv6Address.Parse("fd00::99"), 4 => Ipv6Address.Parse("2001:db8::1"), _ => Local6 };
                    frames.Add(Eth6(Ip6(src, dst, g.Pick<byte>(253, 50, 132, 41, 4, 59, 255), g.Bytes(g.R.Next(0, 100)))));
                    break;
                }
        }
        return frames;
    }

    /// <summary>To our MAC (or, now and then, the all-nodes group's), except for the frames whose drop is checked: ours only.</summary>
    private byte[] Eth6(byte[] ip6) => _g.Eth(!_expect6HeaderDrop && _g.Chance(20) ? Pkt6McMac(Ipv6Address.Parse("ff02::1")) : LocalMac, RemoteMac, EthP.IPV6, ip6);

    private static MacAddress Pkt6McMac(UInt128 group) => MacAddress.Parse($"33:33:{(byte)(group >> 24):x2}:{(byte)(group >> 16):x2}:{(byte)(group >> 8):x2}:{(byte)group:x2}");

    /// <summary>A fixed header in front of <paramref name="payload"/>; an UDP or ICMPv6 payload gets its checksum over the pseudo-header.</summary>
    private byte[] Ip6(UInt128 src, UInt128 dst, byte nextHeader, byte[] payload, bool fixUdp = true, byte hopLimit = 64)
    {
        if (nextHeader == NextHdr.Udp && fixUdp && payload.Length >= 8) FillChecksum6(payload, src, dst, NextHdr.Udp, 6);
        if (nextHeader == NextHdr.Icmp && payload.Length >= 4 && !_g.Chance(10)) FillChecksum6(payload, src, dst, NextHdr.Icmp, 2);
        var b = new byte[Ipv6Header.Length + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(b, 0x6000_0000u | (_g.Chance(8) ? (uint)_g.R.Next(1 << 28) : 0));
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4), (ushort)payload.Length);
        b[6] = nextHeader;
        b[7] = hopLimit;
        Ipv6Address.Write(b.AsSpan(8), src);
        Ipv6Address.Write(b.AsSpan(24), dst);
        payload.CopyTo(b, Ipv6Header.Length);
        return b;
    }

    private static void FillChecksum6(byte[] l4, UInt128 src, UInt128 dst, byte proto, int at)
    {
        l4[at] = l4[at + 1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(l4.AsSpan(at), Checksum.TcpUdpV6(src, dst, proto, l4));
    }

    private static byte[] Udp6(ushort dport, byte[] data)
    {
        var u = new byte[UdpHeader.Length + data.Length];
        BinaryPrimitives.WriteUInt16BigEndian(u, 30000);
        BinaryPrimitives.WriteUInt16BigEndian(u.AsSpan(2), dport);
        BinaryPrimitives.WriteUInt16BigEndian(u.AsSpan(4), (ushort)u.Length);
        data.CopyTo(u, UdpHeader.Length);
        return u;
    }

    private static byte[] Icmp6Msg(byte type, byte code, uint rest, byte[] body)
    {
        var m = new byte[8 + body.Length];
        m[0] = type;
        m[1] = code;
        BinaryPrimitives.WriteUInt32BigEndian(m.AsSpan(4), rest);
        body.CopyTo(m, 8);
        return m;
    }

    /// <summary>Sometimes the message cut short (its checksum is computed after, so the cut reaches the type's length checks).</summary>
    private byte[] Cut(byte[] m) => _g.Chance(6) ? m[..(_g.R.Next(0, m.Length + 1))] : m;

    /// <summary>
    /// A chain of extension headers (hop-by-hop, destination options, routing, an unknown one)
    /// with options of every kind (Pad1, PadN, router alert, jumbo, unknown with each action),
    /// lengths sometimes past the packet, ending in UDP, ICMPv6, no next header or nothing.
    /// </summary>
    private byte[] ExtHeaderChain(int count)
    {
        var g = _g;
        var hdrs = new List<(byte Type, byte[] Body)>();
        for (int i = 0; i < count; i++)
        {
            byte type = i == 0 && g.Chance(2) ? NextHdr.Hop : g.Pick(NextHdr.Dest, NextHdr.Dest, NextHdr.Routing, NextHdr.Hop, (byte)253, NextHdr.Fragment);
            hdrs.Add((type, ExtBody(type)));
        }
        byte final = g.Pick(NextHdr.Udp, NextHdr.Icmp, NextHdr.None, (byte)6);
        byte[] upper = final switch
        {
            NextHdr.Udp => Udp6(Udp6Port, g.Bytes(g.R.Next(0, 40))),
            NextHdr.Icmp => Icmp6Msg(Icmpv6Type.EchoRequest, 0, 0, g.Bytes(8)),
            _ => g.Bytes(g.R.Next(0, 20)),
        };
        var payload = new List<byte>();
        for (int i = 0; i < hdrs.Count; i++)
        {
            var body = hdrs[i].Body;
            body[0] = i + 1 < hdrs.Count ? hdrs[i + 1].Type : final;
            payload.AddRange(body);
        }
        int upperAt = payload.Count;
        payload.AddRange(upper);
        var p = payload.ToArray();
        UInt128 src = g.Pick(Peers6), dst = g.Chance(8) ? Ipv6Address.Parse("ff02::1") : Local6;
        // The transport checksum over the real pseudo-header (a routing header's final destination is not modelled).
        if (final == NextHdr.Udp) FillChecksumAt(p, upperAt, src, dst, NextHdr.Udp, 6);
        if (final == NextHdr.Icmp) FillChecksumAt(p, upperAt, src, dst, NextHdr.Icmp, 2);
        var ip = Ip6(src, dst, hdrs[0].Type, p);
        if (g.Chance(10)) BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(4), 0); // a jumbogram without its option, or with it
        return ip;
    }

    private static void FillChecksumAt(byte[] p, int at, UInt128 src, UInt128 dst, byte proto, int csum)
    {
        var l4 = p.AsSpan(at);
        if (l4.Length < csum + 2) return;
        l4[csum] = l4[csum + 1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(l4[csum..], Checksum.TcpUdpV6(src, dst, proto, l4));
    }

    private byte[] ExtBody(byte type)
    {
        var g = _g;
        if (type == NextHdr.Fragment)
        {
            var f = new byte[8];
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(2), (ushort)(g.Chance(2) ? 0 : g.R.Next(65536)));
            BinaryPrimitives.WriteUInt32BigEndian(f.AsSpan(4), (uint)g.R.Next());
            return f;
        }
        int units = g.R.Next(4) switch { 0 => 0, 1 => 1, 2 => g.R.Next(0, 8), _ => g.R.Next(0, 256) };
        var b = new byte[(units + 1) * 8];
        b[1] = (byte)units;
        if (type == NextHdr.Routing)
        {
            b[2] = g.Pick<byte>(0, 2, 3, 4, 253);
            b[3] = (byte)g.Pick(0, 0, 1, 2, 255);
            g.R.NextBytes(b.AsSpan(4));
            return b;
        }
        if (type is NextHdr.Hop or NextHdr.Dest)
        {
            int at = 2;
            while (at < b.Length)
            {
                int room = b.Length - at;
                switch (g.R.Next(7))
                {
                    case 0: b[at++] = 0; break; // Pad1
                    case 1 when room >= 2: // PadN, sometimes longer than the header
                        b[at] = 1;
                        b[at + 1] = (byte)(g.Chance(8) ? 255 : Math.Min(room - 2, g.R.Next(0, 6)));
                        at += 2 + Math.Min(room - 2, b[at + 1]);
                        break;
                    case 2 when room >= 4: b[at] = 5; b[at + 1] = (byte)g.Pick(2, 2, 0, 3); at += 4; break; // router alert
                    case 3 when room >= 6: b[at] = 0xC2; b[at + 1] = (byte)g.Pick(4, 4, 3); BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(at + 2), (uint)g.Pick(0, 65535, 65536, 100000)); at += 6; break; // jumbo
                    case 4 when room >= 2: // unknown option of each action (skip, discard, param prob, param prob unless multicast)
                        b[at] = (byte)(g.R.Next(4) << 6 | 0x1E);
                        b[at + 1] = (byte)Math.Min(room - 2, g.R.Next(0, 8));
                        at += 2 + b[at + 1];
                        break;
                    default: b[at++] = 0; break;
                }
            }
            return b;
        }
        g.R.NextBytes(b.AsSpan(2));
        return b;
    }

    /// <summary>A UDP datagram to our IPv6 socket cut into fragments: tiny, overlapping, duplicated, past 64 KiB, atomic or never complete.</summary>
    private List<byte[]> Fragments6()
    {
        var g = _g;
        UInt128 src = g.Pick(Peers6);
        var whole = Udp6(Udp6Port, g.Bytes(g.R.Next(16, 3000)));
        FillChecksum6(whole, src, Local6, NextHdr.Udp, 6);
        uint id = (uint)g.R.Next();
        var pieces = new List<(int Off, int Len, bool More)>();
        int size = g.R.Next(4) switch { 0 => 8, 1 => 16, _ => 8 * g.R.Next(1, 180) };
        for (int off = 0; off < whole.Length; off += size)
            pieces.Add((off, Math.Min(size, whole.Length - off), off + size < whole.Length));
        switch (g.R.Next(8))
        {
            case 0 when pieces.Count > 1: pieces.Add(pieces[g.R.Next(pieces.Count)]); break; // duplicate
            case 1 when pieces.Count > 1: { var p = pieces[1]; pieces[1] = (p.Off - 8, p.Len + 8, p.More); break; } // overlap
            case 2: pieces.Add((8 * 8189, 64, g.Chance(2))); break; // past 64 KiB
            case 3 when pieces.Count > 1: pieces.RemoveAt(g.R.Next(pieces.Count)); break; // never completes
            case 4: pieces.Add((pieces[^1].Off, pieces[^1].Len + 3, true)); break; // M set with a length not a multiple of 8
            case 5: pieces.Clear(); pieces.Add((0, whole.Length, false)); break; // an atomic fragment
            case 6: pieces.Reverse(); break;
        }
        var frames = new List<byte[]>(pieces.Count);
        foreach (var (off, len, more) in pieces.Take(64))
        {
            var body = new byte[8 + Math.Max(0, len)];
            body[0] = NextHdr.Udp;
            BinaryPrimitives.WriteUInt16BigEndian(body.AsSpan(2), (ushort)((off & 0xFFF8) | (more ? 1 : 0)));
            BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(4), id);
            for (int i = 0; i < len; i++) body[8 + i] = off + i >= 0 && off + i < whole.Length ? whole[off + i] : (byte)0xEE;
            frames.Add(Eth6(Ip6(src, Local6, NextHdr.Fragment, body)));
        }
        return frames;
    }

    /// <summary>An ICMPv6 error quoting a packet we sent (or one we could not have sent), sometimes cut short; a Packet Too Big with MTUs around the limits.</summary>
    private byte[] Icmp6Error()
    {
        var g = _g;
        byte type = g.Pick(Icmpv6Type.DestUnreach, Icmpv6Type.PktTooBig, Icmpv6Type.PktTooBig, Icmpv6Type.TimeExceed, Icmpv6Type.ParamProb, (byte)5, (byte)127);
        uint rest = type == Icmpv6Type.PktTooBig ? (uint)g.Pick(0, 68, 1279, 1280, 1281, 1400, 1499, 1500, 9000, g.R.Next()) : (uint)g.R.Next(64);
        byte code = (byte)(g.Chance(3) ? g.R.Next(256) : g.R.Next(8));
        UInt128 from = g.Chance(6) ? Ipv6Address.Parse("fd00::77") : Local6;
        byte proto = g.Pick(NextHdr.Udp, NextHdr.Icmp, (byte)6, (byte)253, NextHdr.Dest);
        byte[] inner = proto switch
        {
            NextHdr.Udp => Udp6(PeerUdpPort, g.Bytes(g.R.Next(0, 1400))),
            NextHdr.Icmp => Icmp6Msg(Icmpv6Type.EchoRequest, 0, 0, g.Bytes(g.R.Next(0, 200))),
            _ => g.Bytes(g.R.Next(0, 200)),
        };
        if (proto == NextHdr.Udp) BinaryPrimitives.WriteUInt16BigEndian(inner, Udp6Port);
        var quoted = Ip6(from, g.Pick(Peers6), proto, inner);
        int qlen = g.R.Next(4) switch { 0 => quoted.Length, 1 => g.R.Next(0, quoted.Length + 1), _ => Math.Min(quoted.Length, 1232) };
        return Icmp6Msg(type, code, rest, quoted[..Math.Min(qlen, 1232)]);
    }

    /// <summary>Neighbour discovery: NS, NA, RS, RA and redirects with hop limits other than 255, codes other than 0, options of length 0 or past the end.</summary>
    private byte[] Ndisc6()
    {
        var g = _g;
        byte type = g.Pick(Icmpv6Type.NeighbourSolicitation, Icmpv6Type.NeighbourAdvertisement, Icmpv6Type.RouterSolicitation, Icmpv6Type.RouterAdvertisement, Icmpv6Type.Redirect);
        var body = new List<byte>();
        UInt128 target = g.R.Next(4) switch { 0 => Local6, 1 => Ipv6Address.LinkLocal(LocalMac), 2 => Ipv6Address.Parse("ff02::1"), _ => g.Pick(Peers6) };
        switch (type)
        {
            case Icmpv6Type.NeighbourSolicitation:
            case Icmpv6Type.NeighbourAdvertisement:
                body.AddRange(Addr(target));
                break;
            case Icmpv6Type.RouterAdvertisement:
                {
                    // Reachable time and retrans timer (ms). Any value is legal and taken, as Linux takes it
                    // (ndisc_router_discovery()): a retrans timer of days would hold queued packets on an
                    // unresolved neighbour for days, past the teardown's drain, so the values stay under an hour.
                    var t = new byte[8];
                    BinaryPrimitives.WriteUInt32BigEndian(t, (uint)g.Pick(0, 1, 1000, 30_000, g.R.Next(0, 3_600_000)));
                    BinaryPrimitives.WriteUInt32BigEndian(t.AsSpan(4), (uint)g.Pick(0, 1, 10, 1000, g.R.Next(0, 60_000)));
                    body.AddRange(t);
                    break;
                }
            case Icmpv6Type.Redirect:
                body.AddRange(Addr(g.Pick(Peers6)));
                body.AddRange(Addr(target));
                break;
        }
        int opts = g.R.Next(0, 4);
        for (int i = 0; i < opts; i++)
        {
            byte ot = g.Pick<byte>(1, 2, 3, 4, 5, 25, 31, 200);
            int units = g.R.Next(5) switch { 0 => 0, 1 => 255, _ => ot is 1 or 2 ? 1 : g.R.Next(1, 5) };
            var o = new byte[Math.Max(2, Math.Min(units * 8, 64))];
            o[0] = ot;
            o[1] = (byte)units;
            if (ot is 1 or 2 && o.Length >= 8) RemoteMac.Write(o.AsSpan(2));
            else g.R.NextBytes(o.AsSpan(2));
            body.AddRange(o);
        }
        uint rest = type == Icmpv6Type.NeighbourAdvertisement ? (uint)g.R.Next() & 0xE000_0000 : type == Icmpv6Type.RouterAdvertisement ? (uint)g.R.Next() : 0;
        var m = Icmp6Msg(type, (byte)(g.Chance(8) ? 1 : 0), rest, body.ToArray());
        UInt128 src = g.Chance(6) ? 0 : g.Chance(2) ? Ipv6Address.LinkLocal(RemoteMac) : Remote6;
        UInt128 dst = g.R.Next(3) switch { 0 => Ipv6Address.Parse("ff02::1"), 1 => Ipv6Address.SolicitedNode(Local6), _ => Local6 };
        var mac = Ipv6Address.IsMulticast(dst) ? Pkt6McMac(dst) : LocalMac;
        return g.Eth(mac, RemoteMac, EthP.IPV6, Ip6(src, dst, NextHdr.Icmp, Cut(m), hopLimit: g.Chance(8) ? (byte)64 : (byte)255));
    }

    private static byte[] Addr(UInt128 a)
    {
        var b = new byte[16];
        Ipv6Address.Write(b, a);
        return b;
    }

    /// <summary>The Ip6 counters ip6_rcv_core() drops a malformed header under.</summary>
    private long Ip6HeaderDrops()
    {
        var m = Net.Ip6Mib;
        return m[Ipv6Mib.Ip6InHdrErrors] + m[Ipv6Mib.Ip6InTruncatedPkts] + m[Ipv6Mib.Ip6InDiscards];
    }

    /// <summary>The output oracle for IPv6: a well-formed fixed header whose payload length fits the frame, from one of our addresses (or :: for DAD), ICMPv6 and UDP checksums right.</summary>
    private static void VerifyOutput6(Span<byte> ip)
    {
        Check(ip.Length >= Ipv6Header.Length && ip[0] >> 4 == 6, "sent an unparsable IPv6 header");
        var h = Ipv6Header.Create(ip);
        Check(Ipv6Header.Length + h.PayloadLength <= ip.Length, $"sent IPv6 payload length {h.PayloadLength} in {ip.Length} bytes");
        UInt128 src = h.Source;
        Check(src == Local6 || src == Ipv6Address.LinkLocal(LocalMac) || src == 0, $"sent from {Ipv6Address.Format(src)}");
        var l4 = ip.Slice(Ipv6Header.Length, h.PayloadLength);
        switch (h.NextHeader)
        {
            case NextHdr.Icmp:
                Check(l4.Length >= 4 && Checksum.TcpUdpV6(src, h.Destination, NextHdr.Icmp, l4) == 0, "sent a bad ICMPv6 checksum");
                break;
            case NextHdr.Udp:
                Check(l4.Length >= 8 && BinaryPrimitives.ReadUInt16BigEndian(l4[4..]) == l4.Length, "sent a bad UDP length over IPv6");
                Check(Checksum.TcpUdpV6(src, h.Destination, NextHdr.Udp, l4) == 0, "sent a bad UDP checksum over IPv6");
                break;
        }
    }
}
