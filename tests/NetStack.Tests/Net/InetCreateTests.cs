using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Net;

/// <summary>One test per branch of net/ipv4/af_inet.c: inet_create() and inet_register_protosw().</summary>
public class InetCreateTests
{
    private static NetNamespace NewNet() => new("t", new VirtualClock());

    private static Sock SkOf(NetNamespace net, int fd)
    {
        lock (net.SyncRoot) return net.Files.Lookup(fd)!.Sk!;
    }

    private static int Opt(NetNamespace net, int fd, int level, int name)
    {
        Assert.Equal(0, SocketCalls.Getsockopt(net.Files, fd, level, name, out int v));
        return v;
    }

    [Fact]
    public void InetswArray_ReadsLikeTheKernel()
    {
        using var net = NewNet();
        var stream = net.Ipv4.InetswList(SOCK_STREAM);
        Assert.Single(stream);
        Assert.Same(TcpProt.Instance, stream[0].Prot);
        Assert.Same(InetStreamOps.Instance, stream[0].Ops);
        Assert.Equal(InetProtosw.INET_PROTOSW_PERMANENT | InetProtosw.INET_PROTOSW_ICSK, stream[0].Flags);
        var dgram = net.Ipv4.InetswList(SOCK_DGRAM);
        Assert.Equal(2, dgram.Count);
        Assert.Equal((IPPROTO_UDP, InetProtosw.INET_PROTOSW_PERMANENT), (dgram[0].Protocol, dgram[0].Flags));
        Assert.Same(InetDgramOps.Instance, dgram[0].Ops);
        Assert.Equal((IPPROTO_ICMP, InetProtosw.INET_PROTOSW_REUSE), (dgram[1].Protocol, dgram[1].Flags));
        Assert.Same(InetSockrawOps.Instance, dgram[1].Ops);
        var raw = Assert.Single(net.Ipv4.InetswList(SOCK_RAW));
        Assert.Equal(IPPROTO_IP, raw.Protocol);
        Assert.Same(RawProt.Instance, raw.Prot);
    }

    [Fact]
    public void ProtocolOutOfRange_EINVAL()
    {
        using var net = NewNet();
        Assert.Equal(-Errno.EINVAL, SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM, -1));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM, IPPROTO_MAX));
    }

    [Fact]
    public void ExactMatch_UdpSocket()
    {
        using var net = NewNet();
        int fd = SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM, IPPROTO_UDP);
        Assert.True(fd >= 3);
        var sk = SkOf(net, fd);
        Assert.IsType<UdpSock>(sk);
        Assert.Same(UdpProt.Instance, sk.Prot);
        lock (net.SyncRoot)
        {
            var sock = net.Files.Lookup(fd)!;
            Assert.Same(InetDgramOps.Instance, sock.Ops);
            Assert.Equal(SocketState.Unconnected, sock.State);
            Assert.Same(sock, sk.Socket);
        }
        Assert.Equal(TcpState.Close, sk.State);
        Assert.Equal(-1, ((InetSock)sk).UcTtl);
        Assert.Equal(0, (int)sk.Reuse);
        Assert.Equal(IPPROTO_UDP, Opt(net, fd, SOL_SOCKET, SO_PROTOCOL));
        Assert.Equal(SOCK_DGRAM, Opt(net, fd, SOL_SOCKET, SO_TYPE));
        Assert.Equal(AF_INET, Opt(net, fd, SOL_SOCKET, SO_DOMAIN));
        Assert.Equal(64, Opt(net, fd, SOL_IP, IP_TTL));
    }

    [Fact]
    public void WildcardProtocol_TakesTheFirstEntrysProtocol()
    {
        using var net = NewNet();
        int udp = SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM, 0);
        Assert.Equal(IPPROTO_UDP, Opt(net, udp, SOL_SOCKET, SO_PROTOCOL));
        int tcp = SocketCalls.Socket(net.Files, AF_INET, SOCK_STREAM, 0);
        Assert.Equal(IPPROTO_TCP, Opt(net, tcp, SOL_SOCKET, SO_PROTOCOL));
        Assert.True(((InetSock)SkOf(net, tcp)).IsIcsk); // INET_PROTOSW_ICSK
        lock (net.SyncRoot) Assert.Same(InetStreamOps.Instance, net.Files.Lookup(tcp)!.Ops);
    }

    [Fact]
    public void WildcardEntry_MatchesAnyProtocol_RawIcmp()
    {
        using var net = NewNet();
        int fd = SocketCalls.Socket(net.Files, AF_INET, SOCK_RAW, IPPROTO_ICMP);
        Assert.True(fd >= 3);
        var sk = (RawSock)SkOf(net, fd);
        Assert.Equal(IPPROTO_ICMP, sk.InetNum);  // SOCK_RAW: inet_num = protocol
        Assert.Equal(IPPROTO_ICMP, sk.InetSport);
        Assert.True(sk.Hashed);                   // sk_prot->hash() because inet_num is set
        Assert.Equal(1, Opt(net, fd, SOL_SOCKET, SO_REUSEADDR)); // INET_PROTOSW_REUSE
        Assert.Equal(0, Opt(net, fd, SOL_IP, IP_HDRINCL));
        int udpraw = SocketCalls.Socket(net.Files, AF_INET, SOCK_RAW, IPPROTO_UDP);
        Assert.Equal(IPPROTO_UDP, Opt(net, udpraw, SOL_SOCKET, SO_PROTOCOL));
    }

    [Fact]
    public void RawWithIpprotoRaw_SetsHdrincl()
    {
        using var net = NewNet();
        int fd = SocketCalls.Socket(net.Files, AF_INET, SOCK_RAW, IPPROTO_RAW);
        Assert.Equal(1, Opt(net, fd, SOL_IP, IP_HDRINCL));
    }

    [Fact]
    public void RawWithProtocolZero_EPROTONOSUPPORT()
    {
        using var net = NewNet();
        // The non-wild match of IPPROTO_IP against the wildcard entry does not count.
        Assert.Equal(-Errno.EPROTONOSUPPORT, SocketCalls.Socket(net.Files, AF_INET, SOCK_RAW, 0));
    }

    [Fact]
    public void EntriesButNoMatch_EPROTONOSUPPORT()
    {
        using var net = NewNet();
        Assert.Equal(-Errno.EPROTONOSUPPORT, SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM, IPPROTO_TCP));
        Assert.Equal(-Errno.EPROTONOSUPPORT, SocketCalls.Socket(net.Files, AF_INET, SOCK_STREAM, IPPROTO_UDP));
    }

    [Fact]
    public void NoEntriesForType_ESOCKTNOSUPPORT()
    {
        using var net = NewNet();
        Assert.Equal(-Errno.ESOCKTNOSUPPORT, SocketCalls.Socket(net.Files, AF_INET, SOCK_SEQPACKET, 0));
        Assert.Equal(-Errno.ESOCKTNOSUPPORT, SocketCalls.Socket(net.Files, AF_INET, SOCK_RDM, 0));
    }

    [Fact]
    public void RawWithoutCapNetRaw_EPERM_ButKernelSocketsMay()
    {
        using var net = NewNet();
        var user = new FdTable(net) { CapNetRaw = false };
        Assert.Equal(-Errno.EPERM, SocketCalls.Socket(user, AF_INET, SOCK_RAW, IPPROTO_ICMP));
        // The capability is checked after the lookup: an unknown pair still answers EPROTONOSUPPORT.
        Assert.Equal(-Errno.EPROTONOSUPPORT, SocketCalls.Socket(user, AF_INET, SOCK_RAW, 0));
        // Ping sockets need no privilege.
        Assert.True(SocketCalls.Socket(user, AF_INET, SOCK_DGRAM, IPPROTO_ICMP) >= 3);
        // kern = 1 skips the check.
        Assert.Equal(0, SocketCalls.SockCreateKern(net, AF_INET, SOCK_RAW, IPPROTO_ICMP, out var sock));
        Assert.True(sock!.Sk!.KernSock);
    }

    [Fact]
    public void PingSocket_HasReuse_AndSockrawOps()
    {
        using var net = NewNet();
        int fd = SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
        Assert.IsType<PingSock>(SkOf(net, fd));
        Assert.Equal(1, Opt(net, fd, SOL_SOCKET, SO_REUSEADDR));
        lock (net.SyncRoot) Assert.Same(InetSockrawOps.Instance, net.Files.Lookup(fd)!.Ops);
    }

    // ---- experimental protocols -------------------------------------------------------

    /// <summary>A transport whose sock allocation, hash or init can be made to fail.</summary>
    private sealed class TestProt(bool failAlloc = false, int initErr = 0, int hashErr = 0) : Proto
    {
        public override string Name => "TEST";
        public int Inits, Closes;
        public override Sock? CreateSock(NetNamespace net) => failAlloc ? null : new InetSock();
        public override int Init(Sock sk) { Inits++; return initErr; }
        public override int Hash(Sock sk) => hashErr;
        public override void Close(Sock sk, long timeout) { Closes++; AfInet.SkCommonRelease(sk); }
    }

    [Fact]
    public void SkAllocFails_ENOMEM()
    {
        using var net = NewNet();
        Assert.Equal(0, AfInet.InetRegisterProtosw(net, new InetProtosw(SOCK_DGRAM, 200, new TestProt(failAlloc: true), InetDgramOps.Instance, 0)));
        Assert.Equal(-Errno.ENOMEM, SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM, 200));
    }

    [Fact]
    public void ProtInitFails_ErrorReturned()
    {
        using var net = NewNet();
        var prot = new TestProt(initErr: -Errno.EACCES);
        AfInet.InetRegisterProtosw(net, new InetProtosw(SOCK_DGRAM, 201, prot, InetDgramOps.Instance, 0));
        Assert.Equal(-Errno.EACCES, SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM, 201));
        Assert.Equal(1, prot.Inits);
        Assert.Equal(0, net.Files.Count);
    }

    [Fact]
    public void RawHashFails_ErrorReturned_InitNotCalled()
    {
        using var net = NewNet();
        var prot = new TestProt(hashErr: -Errno.EADDRINUSE);
        // A SOCK_RAW entry: inet_num = protocol, so inet_create hashes before init.
        AfInet.InetRegisterProtosw(net, new InetProtosw(SOCK_RAW, 202, prot, InetSockrawOps.Instance, 0));
        Assert.Equal(-Errno.EADDRINUSE, SocketCalls.Socket(net.Files, AF_INET, SOCK_RAW, 202));
        Assert.Equal(0, prot.Inits);
    }

    [Fact]
    public void RegisterProtosw_OverridingPermanent_Refused()
    {
        using var net = NewNet();
        var prot = new TestProt();
        var fake = new InetProtosw(SOCK_DGRAM, IPPROTO_UDP, prot, InetDgramOps.Instance, 0);
        Assert.Equal(AfInet.RegisterPermanent, AfInet.InetRegisterProtosw(net, fake));
        var fakeTcp = new InetProtosw(SOCK_STREAM, IPPROTO_TCP, prot, InetStreamOps.Instance, 0);
        Assert.Equal(AfInet.RegisterPermanent, AfInet.InetRegisterProtosw(net, fakeTcp));
        // UDP still answers.
        int fd = SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM, IPPROTO_UDP);
        Assert.IsType<UdpSock>(SkOf(net, fd));
        // And a permanent entry cannot be unregistered.
        var udpEntry = net.Ipv4.InetswList(SOCK_DGRAM)[0];
        Assert.Equal(-Errno.EPERM, AfInet.InetUnregisterProtosw(net, udpEntry));
        Assert.Equal(2, net.Ipv4.InetswList(SOCK_DGRAM).Count);
    }

    [Fact]
    public void RegisterProtosw_TypeOutOfRange_Refused()
    {
        using var net = NewNet();
        Assert.Equal(AfInet.RegisterIllegal, AfInet.InetRegisterProtosw(net, new InetProtosw(SOCK_MAX, 1, new TestProt(), InetDgramOps.Instance, 0)));
    }

    [Fact]
    public void RegisterProtosw_GoesAfterPermanent_WildcardStillFindsUdp()
    {
        using var net = NewNet();
        var e = new InetProtosw(SOCK_DGRAM, 203, new TestProt(), InetDgramOps.Instance, 0);
        Assert.Equal(0, AfInet.InetRegisterProtosw(net, e));
        var list = net.Ipv4.InetswList(SOCK_DGRAM);
        Assert.Equal(IPPROTO_UDP, list[0].Protocol);
        Assert.Same(e, list[1]); // right after the last permanent entry, before ping
        Assert.Equal(IPPROTO_ICMP, list[2].Protocol);
        int fd = SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM, 0);
        Assert.Equal(IPPROTO_UDP, Opt(net, fd, SOL_SOCKET, SO_PROTOCOL));
    }

    [Fact]
    public void RegisterProtosw_OverridesNonPermanent_UntilUnregistered()
    {
        using var net = NewNet();
        var prot = new TestProt();
        var e = new InetProtosw(SOCK_DGRAM, IPPROTO_ICMP, prot, InetDgramOps.Instance, 0);
        Assert.Equal(0, AfInet.InetRegisterProtosw(net, e));
        int fd = SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
        Assert.Same(prot, SkOf(net, fd).Prot);
        Assert.Equal(0, AfInet.InetUnregisterProtosw(net, e));
        int fd2 = SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
        Assert.Same(PingProt.Instance, SkOf(net, fd2).Prot);
        // Closing the first socket goes through its own prot's close.
        Assert.Equal(0, SocketCalls.Close(net.Files, fd));
        Assert.Equal(1, prot.Closes);
    }
}
