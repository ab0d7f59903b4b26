using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Ipv6;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Net;

/// <summary>One test per branch of net/ipv6/af_inet6.c: inet6_create() and inet6_register_protosw().</summary>
public class Inet6CreateTests
{
    private static NetNamespace NewNet() => new("t6", new VirtualClock());

    private static Sock SkOf(NetNamespace net, int fd)
    {
        lock (net.SyncRoot) return net.Files.Lookup(fd)!.Sk!;
    }

    private static ProtoOps OpsOf(NetNamespace net, int fd)
    {
        lock (net.SyncRoot) return net.Files.Lookup(fd)!.Ops;
    }

    private static int Opt(NetNamespace net, int fd, int level, int name)
    {
        Assert.Equal(0, SocketCalls.Getsockopt(net.Files, fd, level, name, out int v));
        return v;
    }

    [Fact]
    public void Pf_Inet6_IsRegistered_ThroughSockRegister()
    {
        using var net = NewNet();
        // A second registration of the family is refused as sock_register() refuses it.
        Assert.Equal(-Errno.EEXIST, SocketCalls.SockRegister(net, Inet6FamilyOps.Instance));
        Assert.True(SocketCalls.Socket(net.Files, AF_INET6, SOCK_STREAM, 0) >= 3);
        SocketCalls.SockUnregister(net, PF_INET6);
        Assert.Equal(-Errno.EAFNOSUPPORT, SocketCalls.Socket(net.Files, AF_INET6, SOCK_STREAM, 0));
    }

    [Fact]
    public void Inetsw6Array_ReadsLikeTheKernel()
    {
        using var net = NewNet();
        var stream = Assert.Single(net.Inet6.Inetsw6List(SOCK_STREAM));
        Assert.Same(TcpV6Prot.Instance, stream.Prot);
        Assert.Same(Inet6StreamOps.Instance, stream.Ops);
        Assert.Equal(InetProtosw.INET_PROTOSW_PERMANENT | InetProtosw.INET_PROTOSW_ICSK, stream.Flags);
        var dgram = net.Inet6.Inetsw6List(SOCK_DGRAM);
        Assert.Equal(2, dgram.Count);
        // pingv6 registered first, but the permanent udpv6 entry goes before it.
        Assert.Equal((IPPROTO_UDP, InetProtosw.INET_PROTOSW_PERMANENT), (dgram[0].Protocol, dgram[0].Flags));
        Assert.Same(UdpV6Prot.Instance, dgram[0].Prot);
        Assert.Same(Inet6DgramOps.Instance, dgram[0].Ops);
        Assert.Equal((IPPROTO_ICMPV6, InetProtosw.INET_PROTOSW_REUSE), (dgram[1].Protocol, dgram[1].Flags));
        Assert.Same(PingV6Prot.Instance, dgram[1].Prot);
        Assert.Same(Inet6SockrawOps.Instance, dgram[1].Ops);
        var raw = Assert.Single(net.Inet6.Inetsw6List(SOCK_RAW));
        Assert.Equal(IPPROTO_IP, raw.Protocol);
        Assert.Same(RawV6Prot.Instance, raw.Prot);
        Assert.Same(Inet6SockrawOps.Instance, raw.Ops);
    }

    [Fact]
    public void ProtocolOutOfRange_EINVAL()
    {
        using var net = NewNet();
        Assert.Equal(-Errno.EINVAL, SocketCalls.Socket(net.Files, AF_INET6, SOCK_DGRAM, -1));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Socket(net.Files, AF_INET6, SOCK_DGRAM, IPPROTO_MAX));
    }

    [Fact]
    public void ExactMatch_TcpSocket_HasBothHalves()
    {
        using var net = NewNet();
        int fd = SocketCalls.Socket(net.Files, AF_INET6, SOCK_STREAM, IPPROTO_TCP);
        var sk = Assert.IsType<TcpSock>(SkOf(net, fd));
        Assert.Same(TcpV6Prot.Instance, sk.Prot);
        Assert.Same(Inet6StreamOps.Instance, OpsOf(net, fd));
        Assert.Equal(PF_INET6, sk.Family);
        Assert.True(sk.IsIcsk);
        // The IPv6 part (ipv6_pinfo) and the IPv4 part a dual-stack socket uses.
        var np = Assert.IsType<Ipv6Pinfo>(sk.Pinet6);
        Assert.Equal(-1, np.HopLimit);
        Assert.Equal(IPV6_PMTUDISC_WANT, np.Pmtudisc);
        Assert.Equal(-1, sk.UcTtl);
        Assert.False(sk.Ipv6only);
        Assert.Equal(AF_INET6, Opt(net, fd, SOL_SOCKET, SO_DOMAIN));
        Assert.Equal(IPPROTO_TCP, Opt(net, fd, SOL_SOCKET, SO_PROTOCOL));
        Assert.Equal(64, Opt(net, fd, SOL_IPV6, IPV6_UNICAST_HOPS));
        Assert.Equal(64, Opt(net, fd, SOL_IP, IP_TTL)); // SOL_IP reaches the IPv4 half
        Assert.Equal(0, Opt(net, fd, SOL_IPV6, IPV6_V6ONLY));
    }

    [Fact]
    public void WildcardProtocol_TakesTheFirstEntrysProtocol()
    {
        using var net = NewNet();
        int udp = SocketCalls.Socket(net.Files, AF_INET6, SOCK_DGRAM, 0);
        Assert.Equal(IPPROTO_UDP, Opt(net, udp, SOL_SOCKET, SO_PROTOCOL));
        Assert.Same(UdpV6Prot.Instance, SkOf(net, udp).Prot);
        int tcp = SocketCalls.Socket(net.Files, AF_INET6, SOCK_STREAM, 0);
        Assert.Equal(IPPROTO_TCP, Opt(net, tcp, SOL_SOCKET, SO_PROTOCOL));
    }

    [Fact]
    public void WildcardEntry_MatchesAnyProtocol_RawIcmpv6_InItsOwnTable()
    {
        using var net = NewNet();
        int fd = SocketCalls.Socket(net.Files, AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
        var sk = Assert.IsType<Raw6Sock>(SkOf(net, fd));
        Assert.Same(RawV6Prot.Instance, sk.Prot);
        Assert.Equal(IPPROTO_ICMPV6, sk.InetNum);
        Assert.True(sk.Hashed);
        Assert.Contains(sk, net.Inet6.RawV6Hashinfo);
        Assert.Equal(1, Opt(net, fd, SOL_SOCKET, SO_REUSEADDR)); // INET_PROTOSW_REUSE
        Assert.Equal(0, SocketCalls.Close(net.Files, fd));
        Assert.DoesNotContain(sk, net.Inet6.RawV6Hashinfo);
    }

    [Fact]
    public void RawWithIpprotoRaw_SetsHdrincl()
    {
        using var net = NewNet();
        int fd = SocketCalls.Socket(net.Files, AF_INET6, SOCK_RAW, IPPROTO_RAW);
        Assert.True(((InetSock)SkOf(net, fd)).Hdrincl);
    }

    [Fact]
    public void RawWithProtocolZero_EPROTONOSUPPORT()
    {
        using var net = NewNet();
        Assert.Equal(-Errno.EPROTONOSUPPORT, SocketCalls.Socket(net.Files, AF_INET6, SOCK_RAW, 0));
    }

    [Fact]
    public void EntriesButNoMatch_EPROTONOSUPPORT()
    {
        using var net = NewNet();
        Assert.Equal(-Errno.EPROTONOSUPPORT, SocketCalls.Socket(net.Files, AF_INET6, SOCK_DGRAM, IPPROTO_TCP));
        Assert.Equal(-Errno.EPROTONOSUPPORT, SocketCalls.Socket(net.Files, AF_INET6, SOCK_STREAM, IPPROTO_UDP));
        Assert.Equal(-Errno.EPROTONOSUPPORT, SocketCalls.Socket(net.Files, AF_INET6, SOCK_DGRAM, IPPROTO_ICMP));
    }

    [Fact]
    public void NoEntriesForType_ESOCKTNOSUPPORT()
    {
        using var net = NewNet();
        Assert.Equal(-Errno.ESOCKTNOSUPPORT, SocketCalls.Socket(net.Files, AF_INET6, SOCK_SEQPACKET, 0));
        Assert.Equal(-Errno.ESOCKTNOSUPPORT, SocketCalls.Socket(net.Files, AF_INET6, SOCK_RDM, 0));
    }

    [Fact]
    public void RawWithoutCapNetRaw_EPERM_AfterTheLookup_ButPingAndKernelSocketsMay()
    {
        using var net = NewNet();
        var user = new FdTable(net) { CapNetRaw = false };
        Assert.Equal(-Errno.EPERM, SocketCalls.Socket(user, AF_INET6, SOCK_RAW, IPPROTO_ICMPV6));
        Assert.Equal(-Errno.EPROTONOSUPPORT, SocketCalls.Socket(user, AF_INET6, SOCK_RAW, 0));
        int ping = SocketCalls.Socket(user, AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6);
        Assert.True(ping >= 3);
        lock (net.SyncRoot) Assert.IsType<PingSock>(user.Lookup(ping)!.Sk);
        Assert.Equal(0, SocketCalls.SockCreateKern(net, AF_INET6, SOCK_RAW, IPPROTO_ICMPV6, out var sock));
        Assert.True(sock!.Sk!.KernSock);
    }

    [Fact]
    public void Bindv6only_Sysctl_IsTheDefaultOfIpv6Only()
    {
        using var net = NewNet();
        Assert.True(net.Sysctl.TryGet("net.ipv6.bindv6only", out var v));
        Assert.Equal("0", v);
        Assert.Equal(0, net.Sysctl.TrySet("net.ipv6.bindv6only", "1"));
        int fd = SocketCalls.Socket(net.Files, AF_INET6, SOCK_DGRAM, 0);
        Assert.True(SkOf(net, fd).Ipv6only);
        Assert.Equal(1, Opt(net, fd, SOL_IPV6, IPV6_V6ONLY));
    }

    private sealed class TestProt(bool failAlloc = false, int initErr = 0, int hashErr = 0) : Proto
    {
        public override string Name => "TEST6";
        public int Inits;
        public override Sock? CreateSock(NetNamespace net) => failAlloc ? null : new InetSock();
        public override int Init(Sock sk) { Inits++; return initErr; }
        public override int Hash(Sock sk) => hashErr;
        public override void Close(Sock sk, long timeout) => AfInet.SkCommonRelease(sk);
    }

    [Fact]
    public void SkAllocFails_ENOBUFS()
    {
        using var net = NewNet();
        Assert.Equal(0, AfInet6.Inet6RegisterProtosw(net, new InetProtosw(SOCK_DGRAM, 200, new TestProt(failAlloc: true), Inet6DgramOps.Instance, 0)));
        Assert.Equal(-Errno.ENOBUFS, SocketCalls.Socket(net.Files, AF_INET6, SOCK_DGRAM, 200));
    }

    [Fact]
    public void ProtInitFails_ErrorReturned_NothingInstalled()
    {
        using var net = NewNet();
        var prot = new TestProt(initErr: -Errno.EACCES);
        AfInet6.Inet6RegisterProtosw(net, new InetProtosw(SOCK_DGRAM, 201, prot, Inet6DgramOps.Instance, 0));
        Assert.Equal(-Errno.EACCES, SocketCalls.Socket(net.Files, AF_INET6, SOCK_DGRAM, 201));
        Assert.Equal(1, prot.Inits);
        Assert.Equal(0, net.Files.Count);
    }

    [Fact]
    public void RawHashFails_ErrorReturned_InitNotCalled()
    {
        using var net = NewNet();
        var prot = new TestProt(hashErr: -Errno.EADDRINUSE);
        AfInet6.Inet6RegisterProtosw(net, new InetProtosw(SOCK_RAW, 202, prot, Inet6SockrawOps.Instance, 0));
        Assert.Equal(-Errno.EADDRINUSE, SocketCalls.Socket(net.Files, AF_INET6, SOCK_RAW, 202));
        Assert.Equal(0, prot.Inits);
    }

    [Fact]
    public void RegisterProtosw_PermanentEntries_CannotBeOverriddenOrRemoved()
    {
        using var net = NewNet();
        var prot = new TestProt();
        Assert.Equal(AfInet.RegisterPermanent, AfInet6.Inet6RegisterProtosw(net, new InetProtosw(SOCK_DGRAM, IPPROTO_UDP, prot, Inet6DgramOps.Instance, 0)));
        Assert.Equal(AfInet.RegisterIllegal, AfInet6.Inet6RegisterProtosw(net, new InetProtosw(SOCK_MAX, 1, prot, Inet6DgramOps.Instance, 0)));
        var udpEntry = net.Inet6.Inetsw6List(SOCK_DGRAM)[0];
        Assert.Equal(-Errno.EPERM, AfInet6.Inet6UnregisterProtosw(net, udpEntry));
        // A new entry goes after the last permanent one and overrides ping until unregistered.
        var e = new InetProtosw(SOCK_DGRAM, IPPROTO_ICMPV6, prot, Inet6DgramOps.Instance, 0);
        Assert.Equal(0, AfInet6.Inet6RegisterProtosw(net, e));
        Assert.Same(e, net.Inet6.Inetsw6List(SOCK_DGRAM)[1]);
        int fd = SocketCalls.Socket(net.Files, AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6);
        Assert.Same(prot, SkOf(net, fd).Prot);
        Assert.Equal(0, AfInet6.Inet6UnregisterProtosw(net, e));
        fd = SocketCalls.Socket(net.Files, AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6);
        Assert.Same(PingV6Prot.Instance, SkOf(net, fd).Prot);
    }

    [Fact]
    public void Inet6Family_DoesNotChangeInet()
    {
        using var net = NewNet();
        int fd = SocketCalls.Socket(net.Files, AF_INET, SOCK_STREAM, 0);
        Assert.Same(TcpProt.Instance, SkOf(net, fd).Prot);
        Assert.Null(((InetSock)SkOf(net, fd)).Pinet6);
        // ip_getsockopt() answers a level other than SOL_IP with -EOPNOTSUPP.
        Assert.Equal(-Errno.EOPNOTSUPP, SocketCalls.Getsockopt(net.Files, fd, SOL_IPV6, IPV6_V6ONLY, out _));
    }
}
