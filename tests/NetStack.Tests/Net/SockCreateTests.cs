using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Net;

/// <summary>
/// One test per branch of net/socket.c's creation path (__sys_socket -> __sys_socket_create ->
/// __sock_create -> net_families[]->create -> sock_map_fd).
/// </summary>
public class SockCreateTests
{
    private static NetNamespace NewNet() => new("t", new VirtualClock());

    [Fact]
    public void Socket_UnknownFlagBitsInType_EINVAL()
    {
        using var net = NewNet();
        // Bits above SOCK_TYPE_MASK other than SOCK_CLOEXEC|SOCK_NONBLOCK.
        Assert.Equal(-Errno.EINVAL, SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM | 0x1000, 0));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Socket(net.Files, AF_INET, -1, 0));
    }

    [Fact]
    public void SockCreate_FamilyOutOfRange_EAFNOSUPPORT()
    {
        using var net = NewNet();
        Assert.Equal(-Errno.EAFNOSUPPORT, SocketCalls.Socket(net.Files, -1, SOCK_DGRAM, 0));
        Assert.Equal(-Errno.EAFNOSUPPORT, SocketCalls.Socket(net.Files, NPROTO, SOCK_DGRAM, 0));
    }

    [Fact]
    public void SockCreate_TypeOutOfRange_EINVAL()
    {
        using var net = NewNet();
        // 11..15 pass the flags check (they are inside SOCK_TYPE_MASK) but not type < SOCK_MAX.
        Assert.Equal(-Errno.EINVAL, SocketCalls.Socket(net.Files, AF_INET, SOCK_MAX, 0));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Socket(net.Files, AF_INET, 15, 0));
        lock (net.SyncRoot)
            Assert.Equal(-Errno.EINVAL, SocketCalls.SockCreateInternal(net, AF_INET, -1, 0, out _, false, net.Files));
    }

    [Fact]
    public void SockCreate_UnregisteredFamily_EAFNOSUPPORT()
    {
        using var net = NewNet();
        Assert.Equal(-Errno.EAFNOSUPPORT, SocketCalls.Socket(net.Files, AF_UNIX, SOCK_STREAM, 0));
        Assert.Equal(-Errno.EAFNOSUPPORT, SocketCalls.Socket(net.Files, AF_NETLINK, SOCK_DGRAM, 0));
    }

    private sealed class RecordingFamily(int family, int result) : NetProtoFamily
    {
        public override int Family => family;
        public int Calls, LastProtocol, LastType;
        public bool LastKern;
        public override int Create(NetNamespace net, BsdSocket sock, int protocol, bool kern, FdTable caller)
        {
            Calls++;
            LastProtocol = protocol;
            LastType = sock.Type;
            LastKern = kern;
            return result;
        }
    }

    [Fact]
    public void SockCreate_InetWithSockPacket_IsRedirectedToPfPacket()
    {
        using var net = NewNet();
        // Without PF_PACKET registered the compatibility rewrite ends in EAFNOSUPPORT...
        Assert.Equal(-Errno.EAFNOSUPPORT, SocketCalls.Socket(net.Files, AF_INET, SOCK_PACKET, 0));
        // ...and with it, PF_PACKET's create is what runs.
        var packet = new RecordingFamily(PF_PACKET, 0);
        Assert.Equal(0, SocketCalls.SockRegister(net, packet));
        int fd = SocketCalls.Socket(net.Files, AF_INET, SOCK_PACKET, 768);
        Assert.True(fd >= FdTable.FirstFd);
        Assert.Equal(1, packet.Calls);
        Assert.Equal(SOCK_PACKET, packet.LastType);
        Assert.Equal(768, packet.LastProtocol);
    }

    [Fact]
    public void SockRegister_Twice_EEXIST_AndOutOfRange_ENOBUFS_AndUnregister()
    {
        using var net = NewNet();
        Assert.Equal(-Errno.EEXIST, SocketCalls.SockRegister(net, InetFamilyOps.Instance));
        Assert.Equal(-Errno.ENOBUFS, SocketCalls.SockRegister(net, new RecordingFamily(NPROTO, 0)));
        SocketCalls.SockUnregister(net, PF_INET);
        Assert.Equal(-Errno.EAFNOSUPPORT, SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM, 0));
    }

    [Fact]
    public void SockCreate_FamilyCreateFails_ErrorPropagates()
    {
        using var net = NewNet();
        var fam = new RecordingFamily(AF_UNIX, -Errno.ESOCKTNOSUPPORT);
        SocketCalls.SockRegister(net, fam);
        Assert.Equal(-Errno.ESOCKTNOSUPPORT, SocketCalls.Socket(net.Files, AF_UNIX, SOCK_DGRAM, 0));
        Assert.Equal(1, fam.Calls);
        Assert.False(fam.LastKern);
        Assert.Equal(0, net.Files.Count);
    }

    [Fact]
    public void SockCreateKern_PassesKernFlag()
    {
        using var net = NewNet();
        var fam = new RecordingFamily(AF_UNIX, 0);
        SocketCalls.SockRegister(net, fam);
        Assert.Equal(0, SocketCalls.SockCreateKern(net, AF_UNIX, SOCK_DGRAM, 0, out var sock));
        Assert.NotNull(sock);
        Assert.True(fam.LastKern);
    }

    [Fact]
    public void SockMapFd_LowestFreeDescriptor_FromThree()
    {
        using var net = NewNet();
        int a = SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM, 0);
        int b = SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM, 0);
        Assert.Equal(3, a);
        Assert.Equal(4, b);
        Assert.Equal(0, SocketCalls.Close(net.Files, a));
        Assert.Equal(3, SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM, 0));
        Assert.Equal(-Errno.EBADF, SocketCalls.Close(net.Files, a + 100));
    }

    [Fact]
    public void SockMapFd_NonblockAndCloexecFlags()
    {
        using var net = NewNet();
        int fd = SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        Assert.Equal(O_RDWR | O_NONBLOCK, SocketCalls.Fcntl(net.Files, fd, F_GETFL));
        Assert.Equal(FD_CLOEXEC, SocketCalls.Fcntl(net.Files, fd, F_GETFD));
        int plain = SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM, 0);
        Assert.Equal(O_RDWR, SocketCalls.Fcntl(net.Files, plain, F_GETFL));
        Assert.Equal(0, SocketCalls.Fcntl(net.Files, plain, F_GETFD));
        // A non-blocking receive on an empty socket is EAGAIN.
        Span<byte> buf = stackalloc byte[16];
        Assert.Equal(0, SocketCalls.Bind(net.Files, fd, SockAddr.In(0u, 0)));
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Recv(net.Files, fd, buf, 0));
    }

    [Fact]
    public void SockMapFd_DescriptorLimit_EMFILE_ReleasesSocket()
    {
        using var net = NewNet();
        var files = new FdTable(net) { RlimitNofile = 5 };
        Assert.Equal(3, SocketCalls.Socket(files, AF_INET, SOCK_DGRAM, 0));
        Assert.Equal(4, SocketCalls.Socket(files, AF_INET, SOCK_DGRAM, 0));
        Assert.Equal(-Errno.EMFILE, SocketCalls.Socket(files, AF_INET, SOCK_DGRAM, 0));
        Assert.Equal(2, files.Count);
        lock (net.SyncRoot) Assert.Equal(0, net.Ipv4.UdpTable.Count); // the third socket was released
    }
}
