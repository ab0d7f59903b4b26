using System.Buffers.Binary;
using System.Diagnostics;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Tests.Tcp;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Fuzz;

/// <summary>What one fuzz run did.</summary>
internal sealed record FuzzReport(int Seed, long Frames, double Seconds, Dictionary<TcpState, long> StatesHit, long Sent,
    long TcpInSegs, long UdpInDatagrams, long IcmpInMsgs, long ReasmOks, long BytesVerified, long Checks)
{
    public double FramesPerSecond => Frames / Math.Max(Seconds, 1e-9);
    public override string ToString() =>
        $"seed {Seed}: {Frames} frames in {Seconds:F1} s ({FramesPerSecond:F0} frames/s), {Checks} consistency checks, stack sent {Sent} frames; " +
        $"{BytesVerified} bytes read checked against the peer's stream; TCP InSegs {TcpInSegs}, UDP InDatagrams {UdpInDatagrams}, ICMP InMsgs {IcmpInMsgs}, ReasmOKs {ReasmOks}; TCP states targeted: " +
        string.Join(' ', StatesHit.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}={kv.Value}"));
}

/// <summary>A failure, with what reproduces it.</summary>
internal sealed class FuzzFailure(int seed, long frame, string what, Exception? inner)
    : Exception($"fuzz failure at seed {seed}, frame {frame}: {what}\n(reproduce: scripts/fuzz.sh {frame + 1} --seed {seed})", inner)
{
    public int Seed { get; } = seed;
    public long Frame { get; } = frame;
}

/// <summary>
/// A structure-aware fuzzer for one stack: a namespace on a test device with TCP listeners (one
/// with a backlog of 1), TCP connections kept alive in every state (SYN_SENT, SYN_RECV,
/// ESTABLISHED, FIN_WAIT1/2, CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT; re-created as the fuzz
/// kills them), UDP, raw and ping sockets, and an application that reads, writes, accepts,
/// shuts down and closes. Each step generates frames with <see cref="FrameGen"/> aimed at what is
/// alive (sequence and acknowledgment numbers near the live connection's window edges, ICMP
/// errors quoting the stack's own recent output), feeds them, and lets virtual time jump.
/// Everything the stack sends must be well formed; the <see cref="StackChecker"/> runs every few
/// hundred frames; at the end everything is closed, time runs out and every buffer must be home.
/// Deterministic for a seed (the stack's secrets are seeded too), so a failure's seed and frame
/// index reproduce it.
/// </summary>
internal sealed partial class StackFuzzer : IDisposable
{
    private static readonly uint Local = TcpFixture.LocalAddr, Remote = TcpFixture.RemoteAddr;
    private static readonly uint[] Peers = [Remote, Ipv4Address.Parse("10.0.0.3"), Ipv4Address.Parse("10.0.0.4")];
    private static readonly MacAddress LocalMac = TcpFixture.LocalMac, RemoteMac = TcpFixture.RemoteMac;
    private const ushort ListenPort = 80, SmallListenPort = 81, UdpPort = 5353, UdpConnPort = 5354, PeerUdpPort = 7000;
    private const int RawProto = 253;

    public readonly VirtualClock Clock = new();
    public readonly NetNamespace Net;
    public readonly TcpTestDevice Dev = new(LocalMac);
    private readonly FrameGen _g;
    private readonly int _seed;
    private FdTable Files => Net.Files;

    private readonly List<int> _listeners = [], _tcp = [], _dgram = [];
    private int _udpFd, _udpConnFd, _pingFd, _rawIcmpFd, _rawFd;
    private ushort _pingIdent;
    private ushort _nextLocalPort = 20000, _nextPeerPort = 30000;
    private readonly byte[][] _recentSent = new byte[32][];
    private int _recentCount;
    private readonly byte[] _buf = new byte[65536];
    private readonly Dictionary<TcpState, long> _statesHit = new();
    private long _sent, _checks;

    /// <summary>Run the consistency checker every this many frames.</summary>
    public int CheckEvery = 256;

    public StackFuzzer(int seed)
    {
        _seed = seed;
        _g = new FrameGen(new Random(seed));
        Net = new NetNamespace("fuzz", Clock);
        // Seed the stack's secrets too (ISNs, timestamp offsets), so a seed replays exactly.
        var rs = new Random(seed ^ 0x5EED);
        var sec = Net.TcpSecrets;
        sec.SeqK0 = (ulong)rs.NextInt64(); sec.SeqK1 = (ulong)rs.NextInt64(); sec.TsK0 = (ulong)rs.NextInt64();
        sec.TsK1 = (ulong)rs.NextInt64(); sec.PortK0 = (ulong)rs.NextInt64(); sec.PortK1 = (ulong)rs.NextInt64();
        Net.AddDevice(Dev, Local, 24);
        Net.Ipv4.Arp.AddPermanent(Remote, Dev, RemoteMac);
        Net.Poll();
        Drain();

        _listeners.Add(Listen(ListenPort, 8));
        _listeners.Add(Listen(SmallListenPort, 1));
        _udpFd = Dgram(SOCK_DGRAM, 0, UdpPort);
        _udpConnFd = Dgram(SOCK_DGRAM, 0, UdpConnPort);
        SocketCalls.Connect(Files, _udpConnFd, SockAddr.In(Remote, PeerUdpPort));
        _pingFd = Dgram(SOCK_DGRAM, IPPROTO_ICMP, 0);
        _rawIcmpFd = Dgram(SOCK_RAW, IPPROTO_ICMP, -1);
        _rawFd = Dgram(SOCK_RAW, RawProto, -1);
        // The ping socket's identifier is its port, given at the first send.
        SocketCalls.Sendto(Files, _pingFd, EchoRequest(1), MSG_DONTWAIT, SockAddr.In(Remote, 0));
        _pingIdent = ((InetSock)Files.Lookup(_pingFd)!.Sk!).InetNum;
        SetUpIpv6();
        Replenish();
        Drain();
    }

    private int Listen(ushort port, int backlog)
    {
        int fd = SocketCalls.Socket(Files, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Check(SocketCalls.Bind(Files, fd, SockAddr.In(0u, port)) == 0, "bind listener");
        Check(SocketCalls.Listen(Files, fd, backlog) == 0, "listen");
        return fd;
    }

    private int Dgram(int type, int protocol, int port)
    {
        int fd = SocketCalls.Socket(Files, AF_INET, type | SOCK_NONBLOCK, protocol);
        Check(fd >= 0, $"socket({type}, {protocol}) = {fd}");
        if (port > 0) Check(SocketCalls.Bind(Files, fd, SockAddr.In(0u, (ushort)port)) == 0, "bind dgram");
        _dgram.Add(fd);
        return fd;
    }

    private static void Check(bool ok, string what)
    {
        if (!ok) throw new InvalidOperationException(what);
    }

    private static byte[] EchoRequest(ushort seq)
    {
        var e = new byte[IcmpHeader.Length + 16];
        e[0] = IcmpType.Echo;
        BinaryPrimitives.WriteUInt16BigEndian(e.AsSpan(6), seq);
        return e;
    }

    // ---- the data oracle: every byte the peer sends at sequence s is StreamByte(s) ----

    /// <summary>The byte the peer sends at sequence number <paramref name="seq"/> (on every connection).</summary>
    internal static byte StreamByte(uint seq) => (byte)(unchecked(seq * 2654435761u) >> 24);

    private static byte[] Stream(uint firstSeq, int len)
    {
        var b = new byte[len];
        for (int i = 0; i < len; i++) b[i] = StreamByte(unchecked(firstSeq + (uint)i));
        return b;
    }

    /// <summary>Connections that took a byte-mutated segment with a repaired checksum: their data may legitimately differ.</summary>
    private readonly HashSet<InetEhashKey> _tainted = [];

    private void TaintTcp(byte[] frame)
    {
        if (frame.Length < EthernetHeader.Length + 20 + 4 || BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(12)) != EthP.IP) return;
        var ip = frame.AsSpan(EthernetHeader.Length);
        if (ip[9] != IpProto.TCP) return;
        int ihl = (ip[0] & 0xF) * 4;
        if (ihl < 20 || ip.Length < ihl + 4) return;
        _tainted.Add(new InetEhashKey(BinaryPrimitives.ReadUInt32BigEndian(ip[16..]), BinaryPrimitives.ReadUInt16BigEndian(ip[(ihl + 2)..]),
            BinaryPrimitives.ReadUInt32BigEndian(ip[12..]), BinaryPrimitives.ReadUInt16BigEndian(ip[ihl..])));
    }

    /// <summary>Reads from a TCP socket and checks every byte against what the peer sent at that sequence number.</summary>
    private void ReadTcp(int fd, int len, int flags)
    {
        var tp = Sk(fd);
        uint seq0 = tp?.CopiedSeq ?? 0;
        bool oracle = tp is not null && tp.InetNum != 0 && !_tainted.Contains(InetHashtables.EhashKey(tp));
        // Urgent data not inline: the byte at the urgent pointer is out of band, the stream skips it.
        uint? oob = tp is not null && tp.UrgData != 0 && !tp.HasFlag(SockFlag.UrgInline) ? tp.UrgSeq : null;
        int n = SocketCalls.Recv(Files, fd, _buf.AsSpan(0, len), flags);
        if (n <= 0 || !oracle || (flags & MSG_OOB) != 0) return;
        uint seq = seq0;
        for (int i = 0; i < n; i++, seq++)
        {
            if (seq == oob) seq++;
            if (_buf[i] != StreamByte(seq))
                throw new InvalidOperationException($"{tp}: read byte {i} of {n} (sequence {seq}) is {_buf[i]}, the peer sent {StreamByte(seq)}; " +
                    $"copied_seq now {tp!.CopiedSeq}, receive queue {Dump(tp.ReceiveQueue)}, out-of-order {Dump(tp.OutOfOrderQueue)}, urg_data {tp.UrgData}; fd {fd} origin {_origin.GetValueOrDefault(fd)}" +
                    (_traceLog.TryGetValue(InetHashtables.EhashKey(tp), out var log) ? "\n    " + string.Join("\n    ", log) : ""));
        }
        _bytesVerified += n;
    }

    private long _bytesVerified;
    private readonly Dictionary<int, string> _origin = [];

    private static string Dump(SkBuffQueue q)
    {
        var sb = new System.Text.StringBuilder("[");
        for (var b = q.First; b is not null; b = b.Next) sb.Append($" {b.Cb.Seq}-{b.Cb.EndSeq}/{b.Len}/{TcpFlags.Format(b.Cb.TcpFlags)}");
        return sb.Append(" ]").ToString();
    }

    // ---- running ----

    /// <summary>Runs <paramref name="frames"/> steps, then closes everything and checks that all is returned.</summary>
    public FuzzReport Run(long frames)
    {
        var sw = Stopwatch.StartNew();
        long i = 0;
        try
        {
            for (; i < frames; i++)
            {
                _frameIndex = i;
                Step(i);
                if ((i + 1) % CheckEvery == 0)
                {
                    _checks++;
                    StackChecker.AssertConsistent(Net, "after a frame");
                }
            }
            i = frames - 1;
            Teardown();
        }
        catch (Exception e) when (e is not FuzzFailure)
        {
            throw new FuzzFailure(_seed, i, e.Message, e);
        }
        var mib = Net.Mib;
        return new FuzzReport(_seed, frames, sw.Elapsed.TotalSeconds, _statesHit, _sent, mib.Tcp[TcpMib.InSegs],
            mib.Udp[UdpMib.InDatagrams], mib.Icmp[IcmpMib.InMsgs], mib.Ip[IpMib.ReasmOKs], _bytesVerified, _checks);
    }

    private void Step(long i)
    {
        var frames = Generate();
        long drops6 = Ip6HeaderDrops();
        foreach (var frame in frames) Inject(frame);
        if (_expect6HeaderDrop) Check(Ip6HeaderDrops() > drops6, "a malformed IPv6 header was dropped without an Ip6 counter");
        Application();
        Application6();
        Time();
        if (i % 64 == 0) Replenish();
        Drain();
    }

    /// <summary>Set NETSTACK_FUZZ_TRACE=1 to keep the last segments of each connection for a failure's report.</summary>
    private readonly bool _trace = Environment.GetEnvironmentVariable("NETSTACK_FUZZ_TRACE") == "1";
    private readonly Dictionary<InetEhashKey, Queue<string>> _traceLog = [];
    private long _frameIndex;

    private void TraceFrame(byte[] frame)
    {
        if (frame.Length < EthernetHeader.Length + 40 || BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(12)) != EthP.IP) return;
        var ip = frame.AsSpan(EthernetHeader.Length);
        int ihl = (ip[0] & 0xF) * 4;
        if (ip[9] != IpProto.TCP || ihl < 20 || ip.Length < ihl + 20) return;
        var t = ip[ihl..];
        var key = new InetEhashKey(BinaryPrimitives.ReadUInt32BigEndian(ip[16..]), BinaryPrimitives.ReadUInt16BigEndian(t[2..]),
            BinaryPrimitives.ReadUInt32BigEndian(ip[12..]), BinaryPrimitives.ReadUInt16BigEndian(t));
        if (!_traceLog.TryGetValue(key, out var q)) _traceLog[key] = q = new Queue<string>();
        int doff = (t[12] >> 4) * 4;
        int tot = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
        uint dseq = BinaryPrimitives.ReadUInt32BigEndian(t[4..]) + ((t[13] & TcpFlags.SYN) != 0 ? 1u : 0u);
        int bad = -1;
        for (int i = doff; i < Math.Min(t.Length, tot - ihl); i++)
            if (t[i] != StreamByte(unchecked(dseq + (uint)(i - doff)))) { bad = i - doff; break; }
        q.Enqueue($"#{_frameIndex} [{TcpFlags.Format(t[13])}] seq {BinaryPrimitives.ReadUInt32BigEndian(t[4..])} ack {BinaryPrimitives.ReadUInt32BigEndian(t[8..])} " +
            $"doff {doff} iplen {tot} framelen {ip.Length} urg {BinaryPrimitives.ReadUInt16BigEndian(t[18..])} first {(t.Length > doff ? t[doff] : -1)} tainted {_tainted.Contains(key)} payload differs from the stream at {bad} tcp {Convert.ToHexString(t[..Math.Min(t.Length, 48)])}");
        if (q.Count > 40) q.Dequeue();
    }

    private void Inject(byte[] frame)
    {
        if (_trace) TraceFrame(frame);
        if (frame.Length > SkBuffPool.DefaultBufferSize - 64) frame = frame.AsSpan(0, SkBuffPool.DefaultBufferSize - 64).ToArray();
        Dev.Inject(frame);
        Net.Poll();
    }

    /// <summary>Takes what the stack sent: each must be well formed; the recent ones are kept to be quoted back.</summary>
    private void Drain()
    {
        while (Dev.Sent.TryDequeue(out var f))
        {
            _sent++;
            VerifyOutput(f);
            _recentSent[_recentCount++ % _recentSent.Length] = f;
        }
    }

    /// <summary>The output oracle: Ethernet/ARP/IPv4 well formed, IPv4 and transport checksums right.</summary>
    private static void VerifyOutput(byte[] f)
    {
        Check(f.Length >= EthernetHeader.Length, "sent a runt frame");
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(12));
        if (type == EthP.ARP) { Check(ArpPacket.TryCreate(f.AsSpan(EthernetHeader.Length), out var a) && a.IsEthernetIpv4, "sent a bad ARP packet"); return; }
        if (type == EthP.IPV6) { VerifyOutput6(f.AsSpan(EthernetHeader.Length)); return; }
        Check(type == EthP.IP, $"sent ethertype {type:x4}");
        var ipSpan = f.AsSpan(EthernetHeader.Length);
        Check(Ipv4Header.TryCreate(ipSpan, out var ip) == Ipv4ParseResult.Ok, "sent an unparsable IPv4 header");
        Check(ip.VerifyChecksum(), "sent a bad IPv4 header checksum");
        Check(ip.TotalLength == ipSpan.Length || (ip.TotalLength < ipSpan.Length && ipSpan.Length <= 46), $"sent IPv4 total length {ip.TotalLength} in {ipSpan.Length} bytes");
        Check(ip.Source == Local, $"sent from {Ipv4Address.Format(ip.Source)}");
        if (ip.IsFragment) return;
        var l4 = ipSpan[ip.HeaderLength..ip.TotalLength];
        switch (ip.Protocol)
        {
            case IpProto.TCP:
                Check(TcpHeader.TryCreate(l4, out var th) == TcpParseResult.Ok, "sent an unparsable TCP header");
                Check(th.VerifyChecksum(ip.Source, ip.Destination), "sent a bad TCP checksum");
                break;
            case IpProto.UDP:
                Check(l4.Length >= 8 && BinaryPrimitives.ReadUInt16BigEndian(l4[4..]) == l4.Length, "sent a bad UDP length");
                Check(BinaryPrimitives.ReadUInt16BigEndian(l4[6..]) == 0 || Checksum.TcpUdp(ip.Source, ip.Destination, IpProto.UDP, l4) == 0, "sent a bad UDP checksum");
                break;
            case IpProto.ICMP:
                Check(l4.Length >= IcmpHeader.Length && Checksum.Compute(l4) == 0, "sent a bad ICMP checksum");
                break;
        }
    }

    // ---- virtual time ----

    private void Time()
    {
        int r = _g.R.Next(1000);
        if (r < 120) Advance(_g.R.Next(1, 250), stepwise: true);
        else if (r < 130) Advance(_g.R.Next(250, 120_000), stepwise: true);
        else if (r < 132) Advance(_g.R.Next(1, 3_600_000), stepwise: _g.Chance(2)); // up to an hour; sometimes one jump (timers fire late)
    }

    /// <summary>Moves time forward; stepwise runs each timer at its own expiry, otherwise everything due fires at the end.</summary>
    public void Advance(long ms, bool stepwise)
    {
        long end = Clock.NowNs + NetStack.Core.Time.Ms(ms);
        if (stepwise)
        {
            for (int guard = 0; guard < 100_000; guard++)
            {
                Net.Poll();
                Drain();
                long next;
                lock (Net.SyncRoot) next = Net.Timers.NextExpiry;
                if (next > end) break;
                if (next > Clock.NowNs) Clock.Set(next);
            }
        }
        Clock.Set(end);
        Net.Poll();
        Drain();
    }

    // ---- the application side ----

    private void Application()
    {
        var g = _g;
        // Accept whatever completed.
        foreach (int lfd in _listeners)
        {
            int afd = SocketCalls.Accept4(Files, lfd, out _, SOCK_NONBLOCK);
            if (afd >= 0) { _tcp.Add(afd); _origin[afd] = $"accepted on {lfd}, {Sk(afd)}"; }
        }
        // Read from a few sockets (sometimes peeking, sometimes a byte at a time).
        for (int k = 0; k < 2; k++)
        {
            int len = g.Chance(8) ? g.R.Next(1, 100) : _buf.Length;
            int flags = MSG_DONTWAIT | (g.Chance(10) ? MSG_PEEK : 0);
            if (_tcp.Count > 0 && g.Chance(2)) ReadTcp(_tcp[g.R.Next(_tcp.Count)], len, flags);
            else SocketCalls.Recv(Files, _dgram[g.R.Next(_dgram.Count)], _buf.AsSpan(0, len), flags);
        }
        if (_tcp.Count > 0)
        {
            int fd = _tcp[g.R.Next(_tcp.Count)];
            switch (g.R.Next(40))
            {
                case 0: case 1: case 2: case 3:
                    SocketCalls.Send(Files, fd, _buf.AsSpan(0, g.Pick(1, 100, 1460, 4000, 30000)), MSG_DONTWAIT | MSG_NOSIGNAL);
                    break;
                case 4: SocketCalls.Shutdown(Files, fd, g.Pick(SHUT_RD, SHUT_WR, SHUT_RDWR)); break;
                case 5: CloseTcp(fd); break;
                case 6:
                    // An abortive close (SO_LINGER 0): RST.
                    SocketCalls.Setsockopt(Files, fd, SOL_SOCKET, SO_LINGER, Linger(1, 0));
                    CloseTcp(fd);
                    break;
                case 7: SocketCalls.Setsockopt(Files, fd, SOL_SOCKET, SO_KEEPALIVE, 1); break;
                case 8: SocketCalls.Setsockopt(Files, fd, IPPROTO_TCP, TCP_NODELAY, g.R.Next(2)); break;
            }
        }
        switch (g.R.Next(30))
        {
            case 0: SocketCalls.Sendto(Files, _udpFd, _buf.AsSpan(0, g.Pick(0, 10, 1472, 1473, 4000)), MSG_DONTWAIT, SockAddr.In(g.Pick(Peers), PeerUdpPort)); break;
            case 1: SocketCalls.Send(Files, _udpConnFd, _buf.AsSpan(0, g.R.Next(0, 200)), MSG_DONTWAIT); break;
            case 2: SocketCalls.Sendto(Files, _pingFd, EchoRequest((ushort)g.R.Next(65536)), MSG_DONTWAIT, SockAddr.In(g.Pick(Peers), 0)); break;
            case 3: SocketCalls.Sendto(Files, _rawFd, _buf.AsSpan(0, g.R.Next(0, 100)), MSG_DONTWAIT, SockAddr.In(g.Pick(Peers), 0)); break;
        }
    }

    private static byte[] Linger(int on, int seconds)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteInt32LittleEndian(b, on);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(4), seconds);
        return b;
    }

    private void CloseTcp(int fd)
    {
        SocketCalls.Close(Files, fd);
        _tcp.Remove(fd);
    }

    // ---- keeping a connection in every state ----

    private static readonly TcpState[] Wanted =
    [
        TcpState.SynSent, TcpState.NewSynRecv, TcpState.Established, TcpState.FinWait1, TcpState.FinWait2, TcpState.CloseWait,
        TcpState.Closing, TcpState.LastAck, TcpState.TimeWait,
    ];

    /// <summary>Drives a new connection into each state that has none (a best effort: the fuzz may have moved it on).</summary>
    private void Replenish()
    {
        var have = new HashSet<TcpState>();
        lock (Net.SyncRoot)
            foreach (var sk in Net.Ipv4.TcpHashinfo.Ehash.Values) have.Add(sk.State);
        // Bound the number of sockets: close the oldest beyond 48.
        while (_tcp.Count > 48) CloseTcp(_tcp[0]);
        foreach (var want in Wanted)
        {
            if (have.Contains(want)) continue;
            try { Drive(want); }
            finally { Drain(); }
        }
    }

    private TcpSock? Sk(int fd) => Files.Lookup(fd)?.Sk as TcpSock;

    /// <summary>The peer's segment to a connection, at its current edges (seq = rcv_nxt, ack = snd_nxt).</summary>
    private void PeerSend(TcpSock tp, byte flags, int dataLen = 0, uint? ack = null)
    {
        var seg = FrameGen.Tcp(tp.InetDaddr, tp.InetRcvSaddr, tp.InetDport, tp.InetNum, tp.RcvNxt, ack ?? tp.SndNxt, flags, 65000, [], Stream(tp.RcvNxt, dataLen));
        InjectIp(tp.InetDaddr, IpProto.TCP, seg);
    }

    private void InjectIp(uint src, int proto, byte[] l4, IpFields? f = null)
    {
        f ??= new IpFields { Src = src, Dst = Local, Protocol = (byte)proto, Id = (ushort)_g.R.Next(65536), Df = true };
        Inject(_g.Eth(LocalMac, RemoteMac, EthP.IP, FrameGen.EmitIp(f, l4)));
    }

    private void Drive(TcpState want)
    {
        var g = _g;
        ushort peerPort = _nextPeerPort++;
        if (_nextPeerPort > 60000) _nextPeerPort = 30000;
        if (want == TcpState.NewSynRecv)
        {
            var syn = FrameGen.Tcp(Remote, Local, peerPort, ListenPort, (uint)g.R.Next(), 0, TcpFlags.SYN, 65000, SynOptions(), []);
            InjectIp(Remote, IpProto.TCP, syn);
            return;
        }
        // An active open (our SYN), or for half of the states a passive one (accepted).
        int fd;
        if (want == TcpState.SynSent || g.Chance(2))
        {
            fd = SocketCalls.Socket(Files, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            ushort lport = _nextLocalPort++;
            if (_nextLocalPort > 29999) _nextLocalPort = 20000;
            SocketCalls.Setsockopt(Files, fd, SOL_SOCKET, SO_REUSEADDR, 1);
            if (SocketCalls.Bind(Files, fd, SockAddr.In(Local, lport)) != 0) { SocketCalls.Close(Files, fd); return; }
            _tcp.Add(fd);
            _origin[fd] = $"active {lport}->{peerPort} for {want}";
            SocketCalls.Connect(Files, fd, SockAddr.In(Remote, peerPort));
            if (want == TcpState.SynSent) return;
            var tp = Sk(fd);
            if (tp is null || tp.State != TcpState.SynSent) return;
            var synAck = FrameGen.Tcp(Remote, Local, peerPort, lport, (uint)g.R.Next(), tp.SndNxt, TcpFlags.SYN | TcpFlags.ACK, 65000, SynOptions(), []);
            InjectIp(Remote, IpProto.TCP, synAck);
        }
        else
        {
            uint iss = (uint)g.R.Next();
            InjectIp(Remote, IpProto.TCP, FrameGen.Tcp(Remote, Local, peerPort, ListenPort, iss, 0, TcpFlags.SYN, 65000, SynOptions(), []));
            if (!Net.Ipv4.TcpHashinfo.Ehash.TryGetValue(new InetEhashKey(Local, ListenPort, Remote, peerPort), out var r) || r is not TcpRequestSock req) return;
            InjectIp(Remote, IpProto.TCP, FrameGen.Tcp(Remote, Local, peerPort, ListenPort, iss + 1, req.SntIsn + 1, TcpFlags.ACK, 65000, [], []));
            fd = SocketCalls.Accept4(Files, _listeners[0], out _, SOCK_NONBLOCK);
            if (fd < 0) return;
            _origin[fd] = $"accepted in Drive for {want}, {Sk(fd)}";
            _tcp.Add(fd);
        }
        var c = Sk(fd);
        if (c is null || c.State != TcpState.Established) return;
        if (g.Chance(2)) SocketCalls.Send(Files, fd, _buf.AsSpan(0, g.R.Next(1, 3000)), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (g.Chance(2)) PeerSend(c, TcpFlags.ACK | TcpFlags.PSH, g.R.Next(1, 1000), c.SndUna);
        switch (want)
        {
            case TcpState.Established: return;
            case TcpState.CloseWait: PeerSend(c, TcpFlags.FIN | TcpFlags.ACK, 0, c.SndUna); return;
            case TcpState.LastAck:
                PeerSend(c, TcpFlags.FIN | TcpFlags.ACK, 0, c.SndUna);
                SocketCalls.Shutdown(Files, fd, SHUT_WR);
                if (g.Chance(2)) CloseTcp(fd);
                return;
        }
        SocketCalls.Shutdown(Files, fd, SHUT_WR); // FIN_WAIT1
        switch (want)
        {
            case TcpState.FinWait1:
                if (g.Chance(2)) CloseTcp(fd);
                return;
            case TcpState.Closing: PeerSend(c, TcpFlags.FIN | TcpFlags.ACK, 0, c.SndUna); return;
        }
        PeerSend(c, TcpFlags.ACK); // our FIN acknowledged: FIN_WAIT2
        if (want == TcpState.FinWait2) return;
        PeerSend(c, TcpFlags.FIN | TcpFlags.ACK); // TIME_WAIT
        CloseTcp(fd);
    }

    private byte[] SynOptions()
    {
        var opts = new List<RawOpt>();
        foreach (int kind in new[] { TcpOpt.MSS, TcpOpt.WINDOW, TcpOpt.SACK_PERM, TcpOpt.TIMESTAMP })
            if (_g.R.Next(4) > 0) opts.Add(_g.TcpOption(kind, 0, 0, 0));
        return _g.TcpOptionArea(opts);
    }

    // ---- frame generation ----

    private List<byte[]> Generate()
    {
        var g = _g;
        var frames = new List<byte[]>(1);
        _expect6HeaderDrop = false;
        int kind = g.R.Next(110);
        if (kind < 40) frames.Add(TcpToLive());
        else if (kind < 48) frames.Add(TcpToListener());
        else if (kind < 51) frames.Add(TcpAnywhere());
        else if (kind < 59) frames.Add(UdpFrame());
        else if (kind < 65) frames.Add(IcmpToUs());
        else if (kind < 75) frames.Add(IcmpError());
        else if (kind < 78) frames.Add(EchoReplyToPing());
        else if (kind < 86) frames.AddRange(Fragments());
        else if (kind < 94) frames.Add(ArpFrame());
        else if (kind < 97) frames.Add(OtherProtocol());
        else if (kind < 100) frames.Add(Junk());
        else frames.AddRange(Ipv6Frames());

        // Field-level damage to the Ethernet header, then byte-level damage (checksums repaired for most).
        for (int i = 0; i < frames.Count; i++)
        {
            if (g.Chance(60))
            {
                g.Pick(MacAddress.Broadcast, MacAddress.Parse("02:00:00:00:09:09"), MacAddress.Parse("01:00:5e:00:00:01")).Write(frames[i]);
                _expect6HeaderDrop = false;
            }
            if (g.Chance(12))
            {
                _expect6HeaderDrop = false;
                // Taint even without the checksum repair: a change that leaves the one's complement sum
                // alone (0x0000 <-> 0xFFFF, or two changes that cancel) is accepted, as on a real wire.
                TaintTcp(frames[i]);
                frames[i] = g.MutateBytes(frames[i]);
                TaintTcp(frames[i]);
                if (g.R.Next(10) < 7) FrameGen.FixChecksums(frames[i]);
            }
        }
        return frames;
    }

    /// <summary>An IPv4 frame with its header fields sometimes at an edge or carrying options.</summary>
    private byte[] IpFrame(uint src, uint dst, int proto, byte[] l4, bool allowFieldMutation = true)
    {
        var g = _g;
        var f = new IpFields { Src = src, Dst = dst, Protocol = (byte)proto, Id = (ushort)g.R.Next(65536), Df = g.Chance(2), Ttl = 64, Tos = g.Chance(8) ? (byte)g.R.Next(4) : (byte)0 };
        if (g.Chance(8)) f.Options = g.IpOptions();
        if (allowFieldMutation && g.Chance(10)) g.MutateIp(f, l4.Length);
        return g.Eth(LocalMac, RemoteMac, EthP.IP, FrameGen.EmitIp(f, l4));
    }

    private byte[] TcpSegment(uint src, uint dst, ushort sport, ushort dport, uint seq, uint ack, byte flags, uint sackBase, uint sackWin, uint tsVal, uint tsEcr)
    {
        var g = _g;
        var opts = new List<RawOpt>();
        int nopts = g.R.Next(4) == 0 ? 0 : g.R.Next(1, 4);
        for (int k = 0; k < nopts; k++)
        {
            int kind = g.R.Next(10) switch
            {
                0 => TcpOpt.MSS, 1 => TcpOpt.WINDOW, 2 => TcpOpt.SACK_PERM, 3 or 4 => TcpOpt.SACK, 5 or 6 => TcpOpt.TIMESTAMP,
                7 => 19, 8 => g.Pick(29, 30, 34, 254), _ => g.R.Next(9, 255),
            };
            var o = g.TcpOption(kind, sackBase, sackWin, tsEcr);
            if (kind == TcpOpt.TIMESTAMP && g.Chance(2)) BinaryPrimitives.WriteUInt32BigEndian(o.Bytes.AsSpan(2), g.Near(tsVal, 1000));
            opts.Add(o);
        }
        byte[] area = g.TcpOptionArea(opts);
        int len = g.R.Next(3) switch { 0 => 0, 1 => g.R.Next(1, 64), _ => g.R.Next(1, 1400) };
        if ((flags & TcpFlags.SYN) != 0 && g.Chance(2)) len = 0;
        ushort win = g.Chance(6) ? g.U16Edge() : (ushort)g.R.Next(1000, 65536);
        int? doff = g.Chance(25) ? g.Pick(0, 1, 4, 6, 15) : null;
        if (doff is not null) _tainted.Add(new InetEhashKey(dst, dport, src, sport)); // the stack reads options as payload, or payload as options
        ushort urg = (flags & TcpFlags.URG) != 0 || g.Chance(30) ? g.U16Edge() : (ushort)0;
        byte res = g.Chance(30) ? (byte)g.R.Next(16) : (byte)0;
        var seg = FrameGen.Tcp(src, dst, sport, dport, seq, ack, flags, win, area, Stream(unchecked(seq + ((flags & TcpFlags.SYN) != 0 ? 1u : 0u)), len), doff, urg, res, badChecksum: g.Chance(40));
        return IpFrame(src, dst, IpProto.TCP, seg);
    }

    private byte[] TcpToLive()
    {
        var g = _g;
        List<SockCommon> live;
        lock (Net.SyncRoot) live = [.. Net.Ipv4.TcpHashinfo.Ehash.Values];
        if (live.Count == 0) return TcpToListener();
        var sk = live[g.R.Next(live.Count)];
        _statesHit[sk.State] = _statesHit.GetValueOrDefault(sk.State) + 1;
        uint rcvNxt, rcvWnd, sndUna, sndNxt, maxWin, tsRecent, tsNow;
        switch (sk)
        {
            case TcpSock tp:
                rcvNxt = tp.RcvNxt; rcvWnd = Math.Max(tp.RcvWnd, 1); sndUna = tp.SndUna; sndNxt = tp.SndNxt; maxWin = Math.Max(tp.MaxWindow, 1);
                tsRecent = tp.RxOpt.TsRecent; tsNow = tp.TcpTimeStampTs;
                break;
            case TcpRequestSock req:
                rcvNxt = req.RcvNxt; rcvWnd = Math.Max(req.RskRcvWnd, 1); sndUna = req.SntIsn; sndNxt = req.SntIsn + 1; maxWin = 65535;
                tsRecent = req.TsRecent; tsNow = unchecked((uint)(Net.NowNs / 1_000_000) + req.TsOff);
                break;
            case TcpTimewaitSock tw:
                rcvNxt = tw.TwRcvNxt; rcvWnd = Math.Max(tw.TwRcvWnd, 1); sndUna = tw.TwSndNxt; sndNxt = tw.TwSndNxt; maxWin = 65535;
                tsRecent = tw.TwTsRecent; tsNow = unchecked((uint)(Net.NowNs / 1_000_000) + tw.TwTsOffset);
                break;
            default:
                return TcpToListener();
        }
        byte flags = g.TcpFlagsCombo();
        uint seq = g.Near(rcvNxt, rcvWnd);
        uint ack = g.R.Next(3) switch { 0 => g.Near(sndUna, maxWin), 1 => g.Near(sndNxt, maxWin), _ => sndNxt };
        uint src = sk.SkcDaddr, dst = sk.SkcRcvSaddr != 0 ? sk.SkcRcvSaddr : Local;
        return TcpSegment(src, dst, sk.SkcDport, sk.SkcNum, seq, ack, flags, sndUna, sndNxt - sndUna + 1, g.Near(tsRecent, 1000), tsNow);
    }

    private byte[] TcpToListener()
    {
        var g = _g;
        ushort port = g.Chance(3) ? SmallListenPort : ListenPort;
        ushort sport = g.Chance(3) ? (ushort)g.R.Next(1, 65536) : (ushort)(40000 + g.R.Next(200));
        byte flags = g.R.Next(3) > 0 ? TcpFlags.SYN : g.TcpFlagsCombo();
        uint src = g.R.Next(6) == 0 ? g.Pick(Peers) : Remote;
        return TcpSegment(src, Local, sport, port, (uint)g.R.Next(), g.Chance(2) ? 0 : (uint)g.R.Next(), flags, 0, 65535, (uint)g.R.Next(), 0);
    }

    private byte[] TcpAnywhere()
    {
        var g = _g;
        return TcpSegment(Remote, Local, (ushort)g.R.Next(65536), (ushort)g.R.Next(65536), (uint)g.R.Next(), (uint)g.R.Next(), g.TcpFlagsCombo(), 0, 65535, 0, 0);
    }

    private byte[] UdpFrame()
    {
        var g = _g;
        ushort dport = g.Pick(UdpPort, UdpConnPort, (ushort)g.R.Next(65536), (ushort)7, UdpPort);
        ushort sport = dport == UdpConnPort && g.R.Next(3) > 0 ? PeerUdpPort : (ushort)g.R.Next(65536);
        int len = g.R.Next(3) switch { 0 => 0, 1 => g.R.Next(1, 32), _ => g.R.Next(1, 1472) };
        uint dst = g.R.Next(8) == 0 ? g.Pick(0xFFFFFFFFu, 0x0A0000FFu, 0xE0000001u) : Local;
        int? lenField = g.Chance(8) ? g.Pick(0, 7, 8, 9, 8 + len - 1, 8 + len + 1, 65535) : null;
        var u = FrameGen.Udp(Remote, dst, sport, dport, g.Bytes(len), lenField, g.R.Next(10) switch { 0 => 1, 1 => 2, _ => 0 });
        var f = IpFrame(Remote, dst, IpProto.UDP, u);
        if (dst is 0xFFFFFFFFu or 0x0A0000FFu) MacAddress.Broadcast.Write(f);
        return f;
    }

    private byte[] IcmpToUs()
    {
        var g = _g;
        byte type = g.Pick(IcmpType.Echo, IcmpType.Echo, IcmpType.Timestamp, IcmpType.InfoRequest, IcmpType.AddressMask, IcmpType.EchoReply,
            IcmpType.TimestampReply, (byte)g.R.Next(256), (byte)9, (byte)10);
        byte code = g.Chance(5) ? (byte)g.R.Next(256) : (byte)0;
        int len = type == IcmpType.Timestamp ? g.Pick(12, 11, 13, 0) : g.R.Next(3) switch { 0 => 0, 1 => 56, _ => g.R.Next(0, 1472) };
        var m = FrameGen.Icmp(type, code, (uint)g.R.Next(), g.Bytes(len), badChecksum: g.Chance(30));
        if (g.Chance(10)) m = m.AsSpan(0, g.R.Next(m.Length)).ToArray();
        uint dst = g.R.Next(10) == 0 ? g.Pick(0xFFFFFFFFu, 0x0A0000FFu, 0xE0000001u) : Local;
        return IpFrame(g.Pick(Peers), dst, IpProto.ICMP, m);
    }

    private byte[] EchoReplyToPing()
    {
        var g = _g;
        var data = g.Bytes(g.R.Next(0, 64));
        uint rest = (uint)(g.Chance(5) ? (ushort)g.R.Next(65536) : _pingIdent) << 16 | (uint)g.R.Next(65536);
        return IpFrame(g.Pick(Peers), Local, IpProto.ICMP, FrameGen.Icmp(IcmpType.EchoReply, 0, rest, data));
    }

    /// <summary>An ICMP error quoting one of the stack's recent frames (or a live connection's next segment), of every type and code it handles.</summary>
    private byte[] IcmpError()
    {
        var g = _g;
        byte[] quote;
        var recent = _recentCount > 0 ? _recentSent[g.R.Next(Math.Min(_recentCount, _recentSent.Length))] : null;
        if (recent is not null && recent.Length > EthernetHeader.Length + 20 && BinaryPrimitives.ReadUInt16BigEndian(recent.AsSpan(12)) == EthP.IP)
        {
            var ip = recent.AsSpan(EthernetHeader.Length);
            int ihl = (ip[0] & 0xF) * 4;
            int qlen = g.R.Next(4) switch { 0 => ip.Length, 1 => g.R.Next(0, ip.Length + 1), _ => Math.Min(ip.Length, ihl + 8) };
            quote = ip[..qlen].ToArray();
            if (g.Chance(4) && quote.Length >= ihl + 8)
            {
                // Move the quoted sequence number around the connection's window (tcp_v4_err checks it).
                if (quote[9] == IpProto.TCP) BinaryPrimitives.WriteUInt32BigEndian(quote.AsSpan(ihl + 4), g.Near(BinaryPrimitives.ReadUInt32BigEndian(quote.AsSpan(ihl + 4)), 65535));
            }
            if (g.Chance(10) && quote.Length > 0) quote[g.R.Next(quote.Length)] ^= (byte)(1 << g.R.Next(8));
        }
        else quote = g.Bytes(g.R.Next(0, 40));

        byte type = g.Pick(IcmpType.DestUnreach, IcmpType.DestUnreach, IcmpType.DestUnreach, IcmpType.TimeExceeded, IcmpType.ParameterProb,
            IcmpType.SourceQuench, IcmpType.Redirect);
        byte code = type switch
        {
            IcmpType.DestUnreach => g.Chance(6) ? (byte)g.R.Next(256) : (byte)g.R.Next(16),
            IcmpType.TimeExceeded => (byte)g.R.Next(3),
            IcmpType.Redirect => (byte)g.R.Next(5),
            _ => (byte)g.R.Next(3),
        };
        uint rest = type switch
        {
            IcmpType.DestUnreach when code == IcmpType.FragNeeded => g.Pick(0u, 1u, 67u, 68u, 552u, 576u, 1280u, 1500u, 1501u, 9000u, 65535u),
            IcmpType.ParameterProb => (uint)g.R.Next(0, 64) << 24,
            IcmpType.Redirect => g.Pick(Remote, Ipv4Address.Parse("10.0.0.3"), (uint)g.R.Next()),
            _ => g.Chance(5) ? (uint)g.R.Next() : 0u,
        };
        var m = FrameGen.Icmp(type, code, rest, quote, badChecksum: g.Chance(40));
        return IpFrame(g.Pick(Peers), Local, IpProto.ICMP, m);
    }

    /// <summary>
    /// A datagram cut into fragments, some of them overlapping, duplicated, tiny, reordered or
    /// running past 64 KiB; the pieces go out as separate frames (some later pieces dropped).
    /// </summary>
    private List<byte[]> Fragments()
    {
        var g = _g;
        byte[] l4;
        int proto;
        if (g.Chance(2))
        {
            l4 = FrameGen.Icmp(IcmpType.Echo, 0, (uint)g.R.Next(), g.Bytes(g.R.Next(8, 3000)));
            proto = IpProto.ICMP;
        }
        else
        {
            l4 = FrameGen.Udp(Remote, Local, 9999, UdpPort, g.Bytes(g.R.Next(8, 3000)));
            proto = IpProto.UDP;
        }
        ushort id = g.Chance(4) ? (ushort)g.R.Next(4) : (ushort)g.R.Next(65536);
        var pieces = new List<(int Off, int Len, bool More)>();
        int pos = 0;
        while (pos < l4.Length)
        {
            int size = g.R.Next(5) switch { 0 => 8, 1 => 16, _ => 8 * g.R.Next(1, 185) };
            size = Math.Min(size, l4.Length - pos);
            pieces.Add((pos, size, pos + size < l4.Length));
            pos += size;
        }
        int variant = g.R.Next(10);
        switch (variant)
        {
            case 0 when pieces.Count > 1: pieces.Add(pieces[g.R.Next(pieces.Count)]); break; // duplicate
            case 1 when pieces.Count > 1: // overlap: one piece starts 8 bytes early
                var pc = pieces[g.R.Next(1, pieces.Count)];
                pieces.Add((pc.Off - 8, Math.Min(pc.Len + 8, l4.Length - pc.Off + 8), pc.More));
                break;
            case 2: pieces.Add((8 * 8189, 64, g.Chance(2))); break; // past 64 KiB
            case 3 when pieces.Count > 1: pieces.RemoveAt(g.R.Next(pieces.Count)); break; // never completes
            case 4: pieces.Add((g.R.Next(0, 8191) * 8, g.R.Next(1, 30), false)); break; // a second, different end
            case 5: pieces.Add((pieces[^1].Off, pieces[^1].Len + 3, true)); break; // MF with an odd length
        }
        // Reorder sometimes.
        if (g.Chance(3)) for (int i = pieces.Count - 1; i > 0; i--) { int j = g.R.Next(i + 1); (pieces[i], pieces[j]) = (pieces[j], pieces[i]); }
        var frames = new List<byte[]>();
        uint src = g.Chance(6) ? g.Pick(Peers) : Remote;
        foreach (var (off, len, more) in pieces.Take(48))
        {
            int o = Math.Max(0, off);
            var data = new byte[len];
            if (o < l4.Length) l4.AsSpan(o, Math.Min(len, l4.Length - o)).CopyTo(data);
            var f = new IpFields { Src = src, Dst = Local, Protocol = (byte)proto, Id = id, Mf = more, FragOff8 = o / 8 };
            if (g.Chance(20)) f.Options = g.IpOptions();
            if (g.Chance(25)) g.MutateIp(f, len);
            frames.Add(g.Eth(LocalMac, RemoteMac, EthP.IP, FrameGen.EmitIp(f, data)));
        }
        return frames;
    }

    private byte[] ArpFrame()
    {
        var g = _g;
        ushort op = g.R.Next(3) > 0 ? g.Pick(ArpPacket.OpRequest, ArpPacket.OpReply) : (ushort)g.R.Next(5);
        uint spa = g.R.Next(6) switch { 0 => Local, 1 => 0, 2 => (uint)g.R.Next(), 3 => 0x0A0000FF, _ => g.Pick(Peers) };
        uint tpa = g.R.Next(5) switch { 0 => g.Pick(Peers), 1 => spa, 2 => (uint)g.R.Next(), _ => Local };
        var sha = g.Chance(8) ? g.Pick(MacAddress.Broadcast, MacAddress.Zero, LocalMac, MacAddress.Parse("01:00:5e:00:00:01")) : RemoteMac;
        var a = g.Arp(op, sha, spa, op == ArpPacket.OpReply ? LocalMac : MacAddress.Zero, tpa, g.Chance(10));
        var dst = op == ArpPacket.OpRequest && g.R.Next(3) > 0 ? MacAddress.Broadcast : LocalMac;
        return g.Eth(dst, RemoteMac, EthP.ARP, a);
    }

    private byte[] OtherProtocol()
    {
        var g = _g;
        int proto = g.Pick(RawProto, RawProto, IpProto.IGMP, 47, 50, 132, 0, 255);
        return IpFrame(g.Pick(Peers), Local, proto, g.Bytes(g.R.Next(0, 200)));
    }

    private byte[] Junk()
    {
        var g = _g;
        ushort type = g.Pick(EthP.IP, EthP.ARP, EthP.IPV6, EthP.VLAN, (ushort)0x88CC, (ushort)g.R.Next(65536), (ushort)0x0600);
        return g.Eth(LocalMac, RemoteMac, type, g.Bytes(g.R.Next(0, 100)));
    }

    // ---- the end ----

    /// <summary>Closes everything, lets every timer run out, and checks that the tables are empty and every buffer is home.</summary>
    private void Teardown()
    {
        _checks++;
        StackChecker.AssertConsistent(Net, "before teardown");
        foreach (int fd in _tcp.ToArray()) CloseTcp(fd);
        foreach (int fd in _listeners) SocketCalls.Close(Files, fd);
        foreach (int fd in _dgram) SocketCalls.Close(Files, fd);
        _listeners.Clear();
        _dgram.Clear();
        // Retransmissions to a silent peer, orphans, FIN_WAIT2, TIME_WAIT, reassembly, ARP: all end within hours.
        for (int k = 0; k < 20; k++) Advance(600_000, stepwise: true);
        _checks++;
        StackChecker.AssertConsistent(Net, "after teardown");
        var h = Net.Ipv4.TcpHashinfo;
        lock (Net.SyncRoot)
        {
            Check(h.Ehash.Count == 0, $"after teardown {h.Ehash.Count} entries remain in the established hash: {string.Join(", ", h.Ehash.Values.Take(5))}");
            Check(h.Lhash.Values.All(l => l.Count == 0), "after teardown a listener remains");
            Check(h.Bhash.Count == 0, $"after teardown {h.Bhash.Count} bind buckets remain");
            Check(Net.Ipv4.Frags.Queues.Count == 0, "after teardown fragment queues remain");
            Check(Net.Ipv4.TcpOrphanCount == 0, $"after teardown {Net.Ipv4.TcpOrphanCount} orphans counted");
            Check(Net.SkbPool.FreeCount == Net.SkbPool.Total, $"after teardown {Net.SkbPool.Total - Net.SkbPool.FreeCount} buffers not back in the pool");
            Check(Net.LargeSkbPool.FreeCount == Net.LargeSkbPool.Total, $"after teardown {Net.LargeSkbPool.Total - Net.LargeSkbPool.FreeCount} large buffers not back");
        }
    }

    public void Dispose() => Net.Dispose();
}
