using System.Reflection;
using NetStack.Api;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Ipv6;
using NetStack.Net;
using NetStack.Tests.Tcp;
using NetStack.Uapi;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Core;

/// <summary>
/// sk_refcnt and the TCP / sock_inode_cache slab caches (issue 13): a sock goes back to its cache
/// only when its last reference goes, comes out of it exactly as a new one is, and nothing that
/// holds it past close (the user's socket, a timer, an async waiter) ever sees it recycled.
/// </summary>
public class SockRefcntTests
{
    private const ushort Port = 5000;

    private static TcpSock TcpOf(NetNamespace net, int fd)
    {
        lock (net.SyncRoot) return (TcpSock)net.Files.Lookup(fd)!.Sk!;
    }

    [Fact]
    public void ClosedConnection_BothSocksGoBackToTheCache_AndComeOutAsNewOnes()
    {
        using var s = new TwoStacks();
        var (lfd, cfd, afd) = TcpTwoStackTests.Connect(s, Port);
        // Some state on both ends: data both ways, a SACK-able connection, timers run.
        var data = new byte[3000];
        Assert.Equal(data.Length, SocketCalls.Send(s.A.Files, cfd, data, 0));
        s.Pump();
        Assert.Equal(data.Length, SocketCalls.Recv(s.B.Files, afd, new byte[4000], 0));
        Assert.Equal(10, SocketCalls.Send(s.B.Files, afd, data.AsSpan(0, 10), 0));
        s.RunFor(300);
        var client = TcpOf(s.A, cfd);
        var child = TcpOf(s.B, afd);
        Assert.Equal(2, client.SkRefcnt); // the protocol's and the socket's
        Assert.Equal(2, child.SkRefcnt);
        var cache = s.A.Ipv4.TcpSockCache;
        int free0 = cache.FreeObjs;

        Assert.Equal(0, SocketCalls.Close(s.A.Files, cfd)); // unread data on A: an abort (RST), destroyed at once
        Assert.Equal(0, SocketCalls.Close(s.B.Files, afd));
        s.RunFor(1000);
        Assert.Equal(0, client.SkRefcnt);
        Assert.Equal(0, child.SkRefcnt);
        Assert.Equal(free0 + 1, cache.FreeObjs);
        Assert.Equal(1, s.B.Ipv4.TcpSockCache.FreeObjs);
        Assert.Equal(0, s.A.Mib.Kernel[KernelMib.RefcountWarn] + s.B.Mib.Kernel[KernelMib.RefcountWarn]);
        Assert.Equal(0, s.A.Mib.Kernel[KernelMib.SkFreeBusy] + s.B.Mib.Kernel[KernelMib.SkFreeBusy]);

        // The next socket and the next accepted child are those socks, with no field of the old ones.
        AssertLikeNew(client, s.A);
        AssertLikeNew(child, s.B);
        int cfd2 = TcpTwoStackTests.Sock(s.A);
        Assert.Same(client, TcpOf(s.A, cfd2));
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(s.A.Files, cfd2, SockAddr.In(TwoStacks.AddrB, Port)));
        s.Pump();
        int afd2 = SocketCalls.Accept4(s.B.Files, lfd, out _, SOCK_NONBLOCK);
        Assert.True(afd2 >= 0);
        Assert.Same(child, TcpOf(s.B, afd2));
        Assert.Equal(TcpState.Established, client.State);
        Assert.Equal(TcpState.Established, child.State);
        Assert.Equal(5, SocketCalls.Send(s.A.Files, cfd2, "hello"u8, 0));
        s.Pump();
        var buf = new byte[16];
        Assert.Equal(5, SocketCalls.Recv(s.B.Files, afd2, buf, 0));
        Assert.Equal("hello"u8.ToArray(), buf[..5]);
    }

    /// <summary>Every field of a cached sock equals a new TcpSock's, but those the cache keeps; the queues it owns are empty.</summary>
    private static void AssertLikeNew(TcpSock used, NetNamespace net)
    {
        var fresh = new TcpSock();
        foreach (var f in Fields(typeof(TcpSock)))
        {
            object? e = f.GetValue(fresh), a = f.GetValue(used);
            if (TcpSock.SlabKeptFields.Contains(f.Name))
            {
                if (f.Name == nameof(SockCommon.Net)) Assert.Same(net, a);
                if (a is TimerList t) Assert.False(t.Pending, f.Name);
                continue;
            }
            if (f.IsInitOnly && !f.FieldType.IsValueType)
            {
                // An object the sock owns for its life: the same content as a new one's.
                Assert.True(SameContent(e, a), $"{f.Name}: contents differ from a new sock's");
                continue;
            }
            Assert.True(Same(e, a), $"{f.Name}: {e} vs {a}");
        }
    }

    private static IEnumerable<FieldInfo> Fields(Type t)
    {
        for (; t != typeof(object); t = t.BaseType!)
            foreach (var f in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                yield return f;
    }

    private static bool SameContent(object? e, object? a)
    {
        if (e is null || a is null) return ReferenceEquals(e, a);
        if (e is Array ea && a is Array aa)
        {
            if (ea.Length != aa.Length) return false;
            for (int i = 0; i < ea.Length; i++) if (!Same(ea.GetValue(i), aa.GetValue(i))) return false;
            return true;
        }
        foreach (var f in Fields(e.GetType()))
            if (!Same(f.GetValue(e), f.GetValue(a))) return false;
        return true;
    }

    /// <summary>The same reference, or the same value field by field.</summary>
    private static bool Same(object? e, object? a)
    {
        if (e is null || a is null) return ReferenceEquals(e, a);
        var t = e.GetType();
        if (!t.IsValueType) return ReferenceEquals(e, a);
        if (t.IsPrimitive || t.IsEnum || t == typeof(UInt128)) return Equals(e, a);
        foreach (var f in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
            if (!Same(f.GetValue(e), f.GetValue(a))) return false;
        return true;
    }

    [Fact]
    public void Tcpv6Sock_KeepsItsIpv6Pinfo_ForTheNextSocket_WithANewOnesValues()
    {
        using var s = new TwoStacks();
        var net = s.A;
        int fd = SocketCalls.Socket(net.Files, AF_INET6, SOCK_STREAM, 0);
        var tp = TcpOf(net, fd);
        var np = tp.Pinet6!;
        Assert.Equal(0, SocketCalls.Setsockopt(net.Files, fd, SOL_IPV6, IPV6_UNICAST_HOPS, 9));
        Assert.Equal(9, np.HopLimit);
        Assert.Equal(0, SocketCalls.Close(net.Files, fd));
        Assert.Equal(1, net.Ipv6.TcpSockCache.FreeObjs);
        Assert.Null(tp.Pinet6);
        int fd2 = SocketCalls.Socket(net.Files, AF_INET6, SOCK_STREAM, 0);
        Assert.Same(tp, TcpOf(net, fd2)); // from the TCPv6 cache
        Assert.Same(np, tp.Pinet6); // part of the tcp6_sock: no new ipv6_pinfo
        Assert.True(SameContent(new Ipv6Pinfo(), np), "the reused ipv6_pinfo has a new one's values");
        // An AF_INET socket comes from the other cache and has none.
        int fd4 = TcpTwoStackTests.Sock(net);
        Assert.Null(TcpOf(net, fd4).Pinet6);
    }

    [Fact]
    public void SockPut_BelowZero_IsCountedAndFreesNothingTwice()
    {
        using var s = new TwoStacks();
        var net = s.A;
        lock (net.SyncRoot)
        {
            var sk = (TcpSock)Sock.SkAlloc(net, AF_INET, TcpProt.Instance, kern: false)!;
            Assert.Equal(1, sk.SkRefcnt);
            int free0 = net.Ipv4.TcpSockCache.FreeObjs;
            sk.SockPut(); // the last reference: into the cache
            Assert.Equal(free0 + 1, net.Ipv4.TcpSockCache.FreeObjs);
            sk.SockPut(); // one too many: counted, not freed again, no exception
            sk.SockPutNoFree();
            Assert.Equal(0, sk.SkRefcnt);
            Assert.Equal(free0 + 1, net.Ipv4.TcpSockCache.FreeObjs);
            Assert.Equal(2, net.Mib.Kernel[KernelMib.RefcountWarn]);
        }
    }

    [Fact]
    public void PendingTimer_HoldsTheSock_UntilItsHandlerRan()
    {
        using var s = new TwoStacks();
        var net = s.A;
        int ran = 0;
        lock (net.SyncRoot)
        {
            var sk = (TcpSock)Sock.SkAlloc(net, AF_INET, TcpProt.Instance, kern: false)!;
            var timer = new TimerList(_ => ran++, sk);
            int free0 = net.Ipv4.TcpSockCache.FreeObjs;
            net.Timers.ModTimer(timer, net.NowNs + Time.Ms(10)); // sk_reset_timer(): a reference
            net.Timers.ModTimer(timer, net.NowNs + Time.Ms(20)); // re-armed while pending: no second one
            Assert.Equal(2, sk.SkRefcnt);
            Assert.True(net.Timers.DelTimer(timer)); // sk_stop_timer(): given back
            Assert.Equal(1, sk.SkRefcnt);
            net.Timers.ModTimer(timer, net.NowNs + Time.Ms(20));
            sk.SockPut(); // the protocol's reference goes: the pending timer keeps the sock
            Assert.Equal(1, sk.SkRefcnt);
            Assert.Equal(free0, net.Ipv4.TcpSockCache.FreeObjs);
            net.Timers.RunExpired(net.NowNs + Time.Ms(30)); // the handler runs, then drops the timer's reference
            Assert.Equal(1, ran);
            Assert.Equal(0, sk.SkRefcnt);
            Assert.Equal(free0 + 1, net.Ipv4.TcpSockCache.FreeObjs);
            Assert.Equal(0, net.Mib.Kernel[KernelMib.RefcountWarn]);
        }
    }

    [Fact]
    public void OrphanInFinWait_LivesOnItsProtocolReference_UntilTheConnectionIsOver()
    {
        using var s = new TwoStacks();
        var (_, cfd, afd) = TcpTwoStackTests.Connect(s, Port);
        var tp = TcpOf(s.A, cfd);
        Assert.Equal(0, SocketCalls.Close(s.A.Files, cfd)); // FIN sent, not yet acknowledged
        Assert.Equal(TcpState.FinWait1, tp.State);
        Assert.Equal(2, tp.SkRefcnt); // the protocol's, and the retransmit timer's on the FIN
        s.Pump();
        Assert.Equal(0, SocketCalls.Close(s.B.Files, afd));
        s.RunFor(1000); // A ends in TIME_WAIT (a tw sock): the full sock is over
        Assert.Equal(0, tp.SkRefcnt);
        Assert.Equal(1, s.A.Ipv4.TcpSockCache.FreeObjs);
        Assert.Equal(0, s.A.Mib.Kernel[KernelMib.RefcountWarn] + s.A.Mib.Kernel[KernelMib.SkFreeBusy]);
    }

    [Fact]
    public void SocketClosedUnderAPendingAsyncReceive_TheWaitEndsWithEbadf_NotOnTheNextSocket()
    {
        using var s = new TwoStacks();
        var (_, cfd, afd) = TcpTwoStackTests.Connect(s, Port);
        var a = new NetSocket(s.A.Files, cfd);
        var tp = TcpOf(s.A, cfd);
        var bsd = s.A.Files.Lookup(cfd)!;
        // The protocol's reference, the socket's, and the SYN's retransmit timer's: the timer stays
        // armed after the SYN-ACK cleared what it would do, as the kernel's (inet_csk_clear_xmit_timer()).
        int refs = tp.SkRefcnt;
        Assert.Equal(3, refs);
        Assert.True(tp.RetransmitTimer!.Pending);
        Assert.Equal(0, tp.IcskPending);
        var pending = a.ReceiveAsync(new byte[16]).AsTask();
        Assert.False(pending.IsCompleted);
        Assert.Equal(refs + 1, tp.SkRefcnt); // and the armed waiter's
        int next;
        lock (s.A.SyncRoot)
        {
            // Close the descriptor under the wait, and open the next socket before the waiter's
            // continuation can run: the descriptor number and the BSD socket object come back.
            Assert.Equal(0, SocketCalls.Close(s.A.Files, cfd));
            next = TcpTwoStackTests.Sock(s.A);
            Assert.Equal(cfd, next);
            Assert.Same(bsd, s.A.Files.Lookup(next)); // recycled from the sock_inode_cache
            Assert.NotSame(tp, s.A.Files.Lookup(next)!.Sk); // the old sock is still the waiter's
            Assert.True(tp.SkRefcnt >= 1);
        }
        var e = Assert.ThrowsAny<NetStackException>(() => pending.GetAwaiter().GetResult());
        Assert.Equal(Errno.EBADF, e.Errno);
        // The new socket was not touched by the old wait, and the old sock went back once the wait let go.
        Assert.Equal(TcpState.Close, TcpOf(s.A, next).State);
        s.RunFor(2000);
        Assert.Equal(0, tp.SkRefcnt);
        Assert.Equal(0, s.A.Mib.Kernel[KernelMib.RefcountWarn]);
        Assert.Equal(0, SocketCalls.Close(s.B.Files, afd));
    }

    [Fact]
    public void ReleasedBsdSocket_IsClearedForTheCache_AndGetsANewInode()
    {
        using var s = new TwoStacks();
        int fd = TcpTwoStackTests.Sock(s.A);
        var sock = s.A.Files.Lookup(fd)!;
        ulong ino = sock.Ino;
        uint gen = sock.Generation;
        Assert.Equal(0, SocketCalls.Close(s.A.Files, fd));
        Assert.Equal(1, s.A.SockInodeCache.FreeObjs);
        int fd2 = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_DGRAM, 0);
        var again = s.A.Files.Lookup(fd2)!;
        Assert.Same(sock, again);
        Assert.Equal(gen + 1, again.Generation);
        Assert.NotEqual(ino, again.Ino);
        Assert.Equal(SOCK_DGRAM, again.Type);
        Assert.Equal(SocketState.Unconnected, again.State);
        Assert.Equal(O_RDWR, again.FileFlags);
        Assert.Equal(1, again.FileRefs);
        Assert.Equal(0L, again.Flags);
        Assert.Equal(0, again.Owner);
    }

    private class Base
    {
        public int Lowat = 1;
        public string Name = "base";
        public readonly List<int> Owned = [];
    }

    private sealed class Derived : Base
    {
        public long When = -1;
        public object? Kept;
        public int[]? Data;
    }

    private sealed class OwnsAnObject
    {
        public List<int> PerInstance = [];
    }

    [Fact]
    public void SkProtClear_PutsEveryFieldBackButTheKeptAndReadonlyOnes_AndRefusesToShareAnObject()
    {
        var clear = SkProtClear<Derived>.Compile(static () => new Derived(), nameof(Derived.Kept));
        var kept = new object();
        var d = new Derived { Lowat = 9, Name = "x", When = 5, Kept = kept, Data = [1] };
        var owned = d.Owned;
        owned.Add(3);
        clear(d);
        Assert.Equal((1, "base", -1L, null), (d.Lowat, d.Name, d.When, d.Data));
        Assert.Same(kept, d.Kept);
        Assert.Same(owned, d.Owned); // readonly: the caller's to empty
        // A writable field whose new value is an object per instance cannot be copied from a template.
        Assert.Throws<InvalidOperationException>(() => SkProtClear<OwnsAnObject>.Compile(static () => new OwnsAnObject()));
        Assert.Throws<InvalidOperationException>(() => SkProtClear<Derived>.Compile(static () => new Derived(), "NoSuchField"));
    }
}
