using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Tcp;

/// <summary>
/// A device for state-machine tests: what the stack transmits is captured (and checked: Ethernet,
/// IPv4 and TCP checksums), and the test injects frames as if they came from the wire.
/// </summary>
public sealed class TcpTestDevice : NetDevice
{
    public readonly Queue<byte[]> Sent = new();
    private readonly Queue<byte[]> _toReceive = new();

    public TcpTestDevice(MacAddress mac) : base("test0", mac) => Eth.EtherSetup(this);

    public void Inject(byte[] frame) => _toReceive.Enqueue(frame);

    protected internal override SkBuff? PollReceive(SkBuffPool pool)
    {
        if (!_toReceive.TryDequeue(out var frame)) return null;
        var skb = pool.Alloc()!;
        frame.CopyTo(skb.Put(frame.Length));
        skb.SetTunTruesize(); // charged as TapDevice charges a frame, so windows follow the kernel's
        return skb;
    }

    public override bool WaitForWork(int timeoutMs) => false;
    public override void Kick() { }

    protected internal override bool StartXmit(SkBuff skb)
    {
        Sent.Enqueue(skb.DataSpan.ToArray());
        skb.Free();
        return true;
    }
}

/// <summary>One TCP segment as the tests write and read it (the payload beside the header's value form).</summary>
public sealed record Seg
{
    public byte Flags;
    public uint Seq;
    public uint Ack;
    /// <summary>The raw 16-bit window field; null in an expectation means "any".</summary>
    public ushort? Window;
    public byte[] Payload = Array.Empty<byte>();
    public ushort Mss;
    public sbyte WindowScale = -1;
    public bool SackPermitted;
    internal TcpTimestamp? Timestamp;
    internal TcpSackBlocks Sack;
    public ushort SrcPort, DstPort;
    /// <summary>The urgent pointer field (meaningful with URG; 0 otherwise).</summary>
    public ushort UrgPtr;
    /// <summary>The Fast Open option (Len 0: a cookie request); null when absent.</summary>
    internal TcpFastopenCookie? Fastopen;

    public override string ToString() =>
        $"[{TcpFlags.Format(Flags)}] seq {Seq} ack {Ack} win {Window?.ToString() ?? "*"} len {Payload.Length}" +
        (Mss != 0 ? $" mss {Mss}" : "") + (WindowScale >= 0 ? $" ws {WindowScale}" : "") + (SackPermitted ? " sackOK" : "") +
        (Timestamp is { } ts ? $" ts {ts.TsVal}/{ts.TsEcr}" : "") + (Sack.Count > 0 ? $" sack {Sack}" : "") + (UrgPtr != 0 ? $" urg {UrgPtr}" : "") +
        (Fastopen is { } foc ? $" {foc}" : "");
}

/// <summary>
/// One stack under test with a TcpTestDevice at 10.0.0.1, a scripted peer at 10.0.0.2, and virtual
/// time: the packet DSL of the state-machine tests, in the style of smoltcp's socket tests.
/// <code>
/// var f = TcpFixture.Listening();
/// f.Send(TcpFlags.SYN, seq: f.RemoteIss);
/// var synAck = f.Expect(TcpFlags.SYN | TcpFlags.ACK, ack: f.RemoteIss + 1);
/// f.Advance(40); f.ExpectNothing();
/// </code>
/// Options are off by default (no timestamps, SACK or window scaling) so segments read plainly;
/// a test turns them on through <see cref="Sysctl"/> before the handshake.
/// </summary>
public sealed class TcpFixture : IDisposable
{
    public static readonly uint LocalAddr = Ipv4Address.Parse("10.0.0.1");
    public static readonly uint RemoteAddr = Ipv4Address.Parse("10.0.0.2");
    public static readonly MacAddress LocalMac = MacAddress.Parse("02:00:00:00:01:01");
    public static readonly MacAddress RemoteMac = MacAddress.Parse("02:00:00:00:01:02");
    public const ushort LocalPort = 80;
    public const ushort RemotePort = 49152;
    public const ushort RemoteWindow = 64000;

    public readonly VirtualClock Clock = new();
    public readonly NetNamespace Net;
    public readonly TcpTestDevice Dev = new(LocalMac);
    /// <summary>The peer's initial sequence number.</summary>
    public uint RemoteIss = 1_000_000;
    /// <summary>Our initial sequence number, learned from our SYN or SYN-ACK.</summary>
    public uint LocalIss;
    /// <summary>The listening socket (passive fixtures) and the connection's fd.</summary>
    public int ListenFd = -1, Fd = -1;
    public ushort PeerPort = RemotePort, OurPort = LocalPort;
    /// <summary>The connection's sock, kept across close() (an orphan is still observable).</summary>
    public TcpSock? ConnSk;
    /// <summary>Our SYN (active fixtures), for its options and timestamp.</summary>
    public Seg? OurSyn;

    /// <summary>
    /// While non-zero, every read of the stack's clock moves it forward by this many nanoseconds
    /// (a clock that is never read twice at the same time): a test sees how often, and where, a
    /// segment's processing reads the time.
    /// </summary>
    public long TickPerClockReadNs;
    /// <summary>Reads of the stack's clock since the fixture was made.</summary>
    public long ClockReads;

    /// <summary>The stack's view of <see cref="Clock"/>: counts reads, ticks while <see cref="TickPerClockReadNs"/> is set.</summary>
    private sealed class FixtureClock(TcpFixture f) : IClock
    {
        public long NowNs
        {
            get
            {
                f.ClockReads++;
                if (f.TickPerClockReadNs != 0) f.Clock.Advance(f.TickPerClockReadNs);
                return f.Clock.NowNs;
            }
        }
    }

    internal TcpFixture(Action<Ipv4Sysctl>? configure = null)
    {
        Net = new NetNamespace("dut", new FixtureClock(this));
        Sysctl.TcpTimestamps = false;
        Sysctl.TcpSack = false;
        Sysctl.TcpWindowScaling = false;
        configure?.Invoke(Sysctl);
        Net.AddDevice(Dev, LocalAddr, 24);
        Net.Ipv4.Arp.AddPermanent(RemoteAddr, Dev, RemoteMac);
        Net.Poll();
        Dev.Sent.Clear(); // the gratuitous ARP
    }

    internal Ipv4Sysctl Sysctl => Net.Ipv4.Sysctl;
    public FdTable Files => Net.Files;

    /// <summary>The connection's sock (also after close()), or the listener's when there is no connection.</summary>
    public TcpSock Sk => Fd >= 0 ? (TcpSock)Files.Lookup(Fd)!.Sk! : ConnSk ?? (TcpSock)Files.Lookup(ListenFd)!.Sk!;
    public TcpState State => Sk.State;

    // ---- fixtures per state ----

    /// <summary>LISTEN on port 80 (non-blocking), backlog 8.</summary>
    internal static TcpFixture Listening(Action<Ipv4Sysctl>? configure = null, int backlog = 8)
    {
        var f = new TcpFixture(configure);
        f.ListenFd = f.Socket();
        Assert.Equal(0, SocketCalls.Bind(f.Files, f.ListenFd, SockAddr.In(LocalAddr, LocalPort)));
        Assert.Equal(0, SocketCalls.Listen(f.Files, f.ListenFd, backlog));
        return f;
    }

    /// <summary>A request in SYN_RECEIVED: the peer's SYN was answered with our SYN-ACK.</summary>
    internal static TcpFixture SynReceived(Action<Ipv4Sysctl>? configure = null)
    {
        var f = Listening(configure);
        f.Send(TcpFlags.SYN, seq: f.RemoteIss, mss: 1460);
        var synAck = f.Expect(TcpFlags.SYN | TcpFlags.ACK, ack: f.RemoteIss + 1);
        f.LocalIss = synAck.Seq;
        return f;
    }

    /// <summary>ESTABLISHED by a passive open, accepted: Fd is the connection.</summary>
    internal static TcpFixture EstablishedPassive(Action<Ipv4Sysctl>? configure = null)
    {
        var f = SynReceived(configure);
        f.Send(TcpFlags.ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1);
        f.Fd = SocketCalls.Accept4(f.Files, f.ListenFd, out _, SOCK_NONBLOCK);
        Assert.True(f.Fd >= 0, $"accept: {f.Fd}");
        f.ConnSk = f.Sk;
        Assert.Equal(TcpState.Established, f.State);
        f.ExpectNothing();
        return f;
    }

    /// <summary>SYN_SENT: connect() sent our SYN to the peer.</summary>
    internal static TcpFixture SynSent(Action<Ipv4Sysctl>? configure = null)
    {
        var f = new TcpFixture(configure);
        f.Fd = f.Socket();
        f.OurPort = 0;
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(f.Files, f.Fd, SockAddr.In(RemoteAddr, LocalPort)));
        f.PeerPort = LocalPort;
        var syn = f.Expect(TcpFlags.SYN, ack: 0);
        f.OurSyn = syn;
        f.ConnSk = f.Sk;
        f.LocalIss = syn.Seq;
        f.OurPort = syn.SrcPort;
        Assert.Equal(TcpState.SynSent, f.State);
        return f;
    }

    /// <summary>ESTABLISHED by an active open: the peer's SYN-ACK was acknowledged.</summary>
    internal static TcpFixture Established(Action<Ipv4Sysctl>? configure = null)
    {
        var f = SynSent(configure);
        f.Send(TcpFlags.SYN | TcpFlags.ACK, seq: f.RemoteIss, ack: f.LocalIss + 1, mss: 1460);
        f.Expect(TcpFlags.ACK, seq: f.LocalIss + 1, ack: f.RemoteIss + 1);
        Assert.Equal(TcpState.Established, f.State);
        Assert.Equal(0, SocketCalls.Connect(f.Files, f.Fd, SockAddr.In(RemoteAddr, LocalPort)));
        return f;
    }

    /// <summary>FIN_WAIT_1: established, then close(): our FIN is out, unacknowledged.</summary>
    public static TcpFixture FinWait1()
    {
        var f = Established();
        f.Close();
        f.Expect(TcpFlags.FIN | TcpFlags.ACK, seq: f.LocalIss + 1, ack: f.RemoteIss + 1);
        Assert.Equal(TcpState.FinWait1, f.Sk.State);
        return f;
    }

    /// <summary>FIN_WAIT_1 after shutdown(SHUT_WR) (the socket stays open, so its state stays observable).</summary>
    public static TcpFixture FinWait1Shutdown()
    {
        var f = Established();
        Assert.Equal(0, SocketCalls.Shutdown(f.Files, f.Fd, SHUT_WR));
        f.Expect(TcpFlags.FIN | TcpFlags.ACK, seq: f.LocalIss + 1, ack: f.RemoteIss + 1);
        Assert.Equal(TcpState.FinWait1, f.State);
        return f;
    }

    /// <summary>FIN_WAIT_2 (half-closed by shutdown): our FIN was acknowledged.</summary>
    public static TcpFixture FinWait2()
    {
        var f = FinWait1Shutdown();
        f.Send(TcpFlags.ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 2);
        f.ExpectNothing();
        Assert.Equal(TcpState.FinWait2, f.State);
        return f;
    }

    /// <summary>CLOSE_WAIT: the peer's FIN arrived (and was acknowledged).</summary>
    public static TcpFixture CloseWait()
    {
        var f = Established();
        f.Send(TcpFlags.FIN | TcpFlags.ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1);
        f.Advance(200);
        f.Expect(TcpFlags.ACK, seq: f.LocalIss + 1, ack: f.RemoteIss + 2);
        Assert.Equal(TcpState.CloseWait, f.State);
        return f;
    }

    /// <summary>LAST_ACK: CLOSE_WAIT, then shutdown(SHUT_WR): our FIN is out.</summary>
    public static TcpFixture LastAck()
    {
        var f = CloseWait();
        Assert.Equal(0, SocketCalls.Shutdown(f.Files, f.Fd, SHUT_WR));
        f.Expect(TcpFlags.FIN | TcpFlags.ACK, seq: f.LocalIss + 1, ack: f.RemoteIss + 2);
        Assert.Equal(TcpState.LastAck, f.State);
        return f;
    }

    // ---- the DSL ----

    public int Socket()
    {
        int fd = SocketCalls.Socket(Files, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Assert.True(fd >= 0);
        return fd;
    }

    public void Close()
    {
        Assert.Equal(0, SocketCalls.Close(Files, Fd));
        Fd = -1;
    }

    /// <summary>Builds the peer's segment (to us) as a whole Ethernet frame with correct checksums.</summary>
    public byte[] Frame(Seg s, bool badChecksum = false)
    {
        var repr = new TcpRepr(s.SrcPort != 0 ? s.SrcPort : PeerPort, s.DstPort != 0 ? s.DstPort : OurPortOrListen, s.Seq, s.Ack, s.Flags, s.Window ?? RemoteWindow)
        {
            Mss = s.Mss, WindowScale = s.WindowScale, SackPermitted = s.SackPermitted, Timestamp = s.Timestamp, Sack = s.Sack,
            UrgPtr = s.UrgPtr, Fastopen = s.Fastopen,
        };
        int tcpLen = repr.HeaderLength + s.Payload.Length;
        var frame = new byte[EthernetHeader.Length + Ipv4Header.MinLength + tcpLen];
        var eth = EthernetHeader.Create(frame);
        eth.Destination = LocalMac;
        eth.Source = RemoteMac;
        eth.EtherType = EthP.IP;
        new Ipv4Repr(RemoteAddr, LocalAddr, IpProto.TCP, tcpLen).Emit(Ipv4Header.Create(frame.AsSpan(EthernetHeader.Length)));
        var seg = frame.AsSpan(EthernetHeader.Length + Ipv4Header.MinLength);
        repr.Emit(TcpHeader.Create(seg));
        s.Payload.CopyTo(seg[repr.HeaderLength..]);
        TcpHeader.Create(seg).FillChecksum(RemoteAddr, LocalAddr);
        if (badChecksum) seg[16] ^= 0xFF;
        return frame;
    }

    private ushort OurPortOrListen => OurPort != 0 ? OurPort : LocalPort;

    /// <summary>
    /// An ICMP error (from the peer's address) quoting a segment we sent with sequence
    /// <paramref name="quotedSeq"/>: the IP header and 8 bytes of TCP, as routers quote.
    /// </summary>
    public void SendIcmpError(byte type, byte code, uint quotedSeq, uint rest = 0)
    {
        int quoteLen = Ipv4Header.MinLength + 8;
        int icmpLen = IcmpHeader.Length + quoteLen;
        var frame = new byte[EthernetHeader.Length + Ipv4Header.MinLength + icmpLen];
        var eth = EthernetHeader.Create(frame);
        eth.Destination = LocalMac;
        eth.Source = RemoteMac;
        eth.EtherType = EthP.IP;
        new Ipv4Repr(RemoteAddr, LocalAddr, IpProto.ICMP, icmpLen).Emit(Ipv4Header.Create(frame.AsSpan(EthernetHeader.Length)));
        var icmp = frame.AsSpan(EthernetHeader.Length + Ipv4Header.MinLength);
        var quote = icmp[IcmpHeader.Length..];
        new Ipv4Repr(LocalAddr, RemoteAddr, IpProto.TCP, 20).Emit(Ipv4Header.Create(quote));
        var tcp = quote[Ipv4Header.MinLength..];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(tcp, OurPortOrListen);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], PeerPort);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], quotedSeq);
        var h = IcmpHeader.Create(icmp);
        new IcmpRepr(type, code, rest).Emit(h);
        h.FillChecksum();
        Dev.Inject(frame);
        Net.Poll();
    }

    /// <summary>The peer sends a segment; the stack processes it at once.</summary>
    internal void Send(byte flags, uint seq, uint ack = 0, byte[]? payload = null, ushort? window = null, ushort mss = 0,
        sbyte ws = -1, bool sackPerm = false, TcpTimestamp? ts = null, TcpSackBlocks sack = default, ushort srcPort = 0, bool badChecksum = false,
        ushort urgPtr = 0)
    {
        Send(new Seg
        {
            Flags = flags, Seq = seq, Ack = ack, Payload = payload ?? Array.Empty<byte>(), Window = window, Mss = mss,
            WindowScale = ws, SackPermitted = sackPerm, Timestamp = ts, Sack = sack, SrcPort = srcPort, UrgPtr = urgPtr,
        }, badChecksum);
    }

    public void Send(Seg s, bool badChecksum = false)
    {
        if (s.SrcPort != 0) PeerPort = s.SrcPort; // replies now go to this peer port
        Dev.Inject(Frame(s, badChecksum));
        Net.Poll();
    }

    /// <summary>Parses and checks one transmitted frame (IPv4 and TCP checksums must verify).</summary>
    public static Seg Parse(byte[] frame)
    {
        Assert.True(EthernetHeader.TryCreate(frame, out var eth));
        Assert.Equal(EthP.IP, eth.EtherType);
        Assert.Equal(RemoteMac, eth.Destination);
        var ipSpan = frame.AsSpan(EthernetHeader.Length);
        Assert.Equal(Ipv4ParseResult.Ok, Ipv4Header.TryCreate(ipSpan, out var ip));
        Assert.True(ip.VerifyChecksum(), "IP checksum");
        Assert.Equal(IpProto.TCP, ip.Protocol);
        Assert.Equal(LocalAddr, ip.Source);
        Assert.Equal(RemoteAddr, ip.Destination);
        var seg = ipSpan.Slice(ip.HeaderLength, ip.TotalLength - ip.HeaderLength);
        Assert.Equal(TcpParseResult.Ok, TcpHeader.TryCreate(seg, out var th));
        Assert.True(th.VerifyChecksum(LocalAddr, RemoteAddr), "TCP checksum");
        var r = TcpRepr.Parse(th);
        return new Seg
        {
            Flags = r.Flags, Seq = r.Seq.Value, Ack = r.Ack.Value, Window = r.Window, Payload = th.Payload.ToArray(),
            Mss = r.Mss, WindowScale = r.WindowScale, SackPermitted = r.SackPermitted, Timestamp = r.Timestamp, Sack = r.Sack,
            SrcPort = r.SrcPort, DstPort = r.DstPort, UrgPtr = r.UrgPtr, Fastopen = r.Fastopen,
        };
    }

    /// <summary>Takes the next transmitted segment (fails if there is none).</summary>
    public Seg Next()
    {
        Net.Poll();
        Assert.True(Dev.Sent.Count > 0, "expected a segment, the stack sent nothing");
        return Parse(Dev.Sent.Dequeue());
    }

    /// <summary>
    /// Expects the next transmitted segment to have these flags and (where given) sequence,
    /// acknowledgment, payload and window, and always this urgent pointer (0 unless given). Returns it for further checks.
    /// </summary>
    public Seg Expect(byte flags, uint? seq = null, uint? ack = null, byte[]? payload = null, ushort? window = null, int? len = null, ushort urgPtr = 0)
    {
        var s = Next();
        string what = s.ToString();
        Assert.True(s.Flags == flags, $"flags: expected [{TcpFlags.Format(flags)}], got {what}");
        if (seq is { } q) Assert.True(s.Seq == q, $"seq: expected {q}, got {what}");
        if (ack is { } a && (flags & TcpFlags.ACK) != 0) Assert.True(s.Ack == a, $"ack: expected {a}, got {what}");
        if (payload is not null) Assert.Equal(payload, s.Payload);
        if (len is { } l) Assert.True(s.Payload.Length == l, $"len: expected {l}, got {what}");
        if (window is { } w) Assert.True(s.Window == w, $"window: expected {w}, got {what}");
        Assert.True(s.UrgPtr == urgPtr, $"urgent pointer: expected {urgPtr}, got {what}");
        if (s.DstPort != 0 && s.SrcPort != 0)
        {
            Assert.Equal(PeerPort, s.DstPort);
        }
        return s;
    }

    /// <summary>
    /// Expects the next transmitted segment to be exactly <paramref name="want"/>: flags, sequence,
    /// acknowledgment, window (unless null), every option and the payload bytes.
    /// </summary>
    public Seg ExpectSeg(Seg want)
    {
        var s = Next();
        var cmp = want.Window is null ? s with { Window = null } : s;
        Assert.Equal(want.ToString(), cmp.ToString());
        Assert.Equal(want.Payload, s.Payload);
        Assert.Equal(PeerPort, s.DstPort);
        return s;
    }

    /// <summary>Nothing more was transmitted (now, without time passing).</summary>
    public void ExpectNothing()
    {
        Net.Poll();
        if (Dev.Sent.Count > 0) Assert.Fail($"expected nothing, the stack sent {Parse(Dev.Sent.Peek())}");
    }

    /// <summary>Moves virtual time forward, running every timer that falls due on the way.</summary>
    public void Advance(long ms)
    {
        long end = Clock.NowNs + Time.Ms(ms);
        while (true)
        {
            Net.Poll();
            long next;
            lock (Net.SyncRoot) next = Net.Timers.NextExpiry;
            if (next > end) break;
            if (next > Clock.NowNs) Clock.Set(next);
        }
        Clock.Set(end);
        Net.Poll();
    }

    /// <summary>Advances to the moment the next segment is transmitted (at most <paramref name="maxMs"/>), returning how long that took.</summary>
    public long AdvanceUntilSent(long maxMs)
    {
        long start = Clock.NowNs;
        long end = start + Time.Ms(maxMs);
        Net.Poll();
        while (Dev.Sent.Count == 0)
        {
            long next;
            lock (Net.SyncRoot) next = Net.Timers.NextExpiry;
            if (next > end) Assert.Fail($"nothing sent within {maxMs} ms");
            if (next > Clock.NowNs) Clock.Set(next);
            Net.Poll();
        }
        return (Clock.NowNs - start) / Time.NsPerMs;
    }

    public int Recv(Span<byte> buf, int flags = 0) => SocketCalls.Recv(Files, Fd, buf, flags);
    public int SendData(ReadOnlySpan<byte> data, int flags = 0) => SocketCalls.Send(Files, Fd, data, flags);
    public int SoError() { SocketCalls.Getsockopt(Files, Fd, SOL_SOCKET, SO_ERROR, out int v); return v; }

    public void Dispose() => Net.Dispose();
}
