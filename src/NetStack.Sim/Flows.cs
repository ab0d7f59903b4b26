using System.Text;
using NetStack.Api;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Sim;

/// <summary>
/// A flow's application: a TCP client on one host and a server on another, driven by the simulator
/// through the BSD calls (<see cref="SocketCalls"/>: non-blocking sockets, negative errno results),
/// as a C program on Linux would drive them with poll(2). The simulator calls <see cref="Service"/>
/// after each time it polled one of the two hosts' stacks.
/// </summary>
public abstract class FlowApp : ISimEventHandler
{
    private protected const int EvStart = 0, EvStop = 1, EvTimer = 2;
    /// <summary>The first server port; flow i listens on ServerPortBase + i.</summary>
    public const int ServerPortBase = 5001;
    /// <summary>The first client port; flow i binds ClientPortBase + i.</summary>
    public const int ClientPortBase = 20001;

    private protected static readonly byte[] Zeros = new byte[65536];
    private protected static readonly byte[] Sink = new byte[65536];

    /// <summary>The scenario's description.</summary>
    public FlowSpec Spec { get; }
    /// <summary>The flow's index (its id in the links' per-flow statistics).</summary>
    public int Id { get; }
    /// <summary>The client's host.</summary>
    public SimHost Client { get; }
    /// <summary>The server's host.</summary>
    public SimHost Server { get; }
    /// <summary>The simulator.</summary>
    public Simulator Sim { get; }

    private protected int ListenFd = -1, ClientFd = -1, ServerFd = -1;

    /// <summary>Bytes the data's receiving application read (the goodput's numerator).</summary>
    public long DeliveredBytes { get; private protected set; }
    /// <summary>When the data's receiving application read its last byte (absolute ns), or -1.</summary>
    public long LastByteNs { get; private protected set; } = -1;
    /// <summary>When the flow was over (the data receiver saw the end of the stream), or -1.</summary>
    public long FinishedNs { get; private protected set; } = -1;
    /// <summary>What went wrong ("connect: ECONNREFUSED"), or null.</summary>
    public string? Error { get; private protected set; }
    /// <summary>Request/response: each request's completion time (request written to last response byte read), ns.</summary>
    public List<long> CompletionTimesNs { get; } = [];
    /// <summary>The last TCP_INFO of the sampled socket (kept when it closes).</summary>
    public TcpInfo? LastInfo { get; private set; }

    private protected bool Stopping;

    internal FlowApp(Simulator sim, FlowSpec spec, int id, SimHost client, SimHost server)
    {
        Sim = sim;
        Spec = spec;
        Id = id;
        Client = client;
        Server = server;
    }

    /// <summary>The server's port.</summary>
    public int ServerPort => ServerPortBase + Id;
    /// <summary>The client's port.</summary>
    public int ClientPort => ClientPortBase + Id;

    /// <summary>The host whose socket is sampled: the data sender's (the client's for bulk and on/off, the server's for request/response).</summary>
    public abstract SimHost SampledHost { get; }
    /// <summary>The sampled socket's descriptor, or -1 while there is none.</summary>
    public abstract int SampledFd { get; }

    internal static FlowApp Create(Simulator sim, FlowSpec spec, int id, SimHost client, SimHost server) => spec.Kind switch
    {
        FlowKind.Bulk => new BulkFlow(sim, spec, id, client, server, onOff: false),
        FlowKind.OnOff => new BulkFlow(sim, spec, id, client, server, onOff: true),
        _ => new RequestResponseFlow(sim, spec, id, client, server),
    };

    /// <summary>Opens the server's listening socket and schedules the start and stop.</summary>
    internal void Setup()
    {
        var f = Server.Files;
        ListenFd = Check(SocketCalls.Socket(f, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), "socket");
        Check(SocketCalls.Setsockopt(f, ListenFd, SOL_SOCKET, SO_REUSEADDR, 1), "setsockopt SO_REUSEADDR");
        ApplyOptions(f, ListenFd, Spec.ServerSockOpts);
        Check(SocketCalls.Bind(f, ListenFd, SockAddr.In(Server.Address, (ushort)ServerPort)), "bind");
        Check(SocketCalls.Listen(f, ListenFd, 128), "listen");
        Sim.Events.Schedule(Sim.T0 + Spec.StartNs, this, EvStart);
        if (Spec.StopNs is { } stop && stop < Sim.Scenario.DurationNs) Sim.Events.Schedule(Sim.T0 + stop, this, EvStop);
    }

    private void ApplyOptions(FdTable files, int fd, List<KeyValuePair<string, int>> opts)
    {
        if (Spec.Cc is { } cc)
        {
            byte[] name = Encoding.ASCII.GetBytes(cc);
            int r = SocketCalls.Setsockopt(files, fd, IPPROTO_TCP, TCP_CONGESTION, name);
            if (r < 0)
                throw new ScenarioException($"flow \"{Spec.Name}\": congestion control \"{cc}\": {Errno.Name(-r)} (available: {string.Join(' ', NetStack.Ipv4.TcpCong.Available)})");
        }
        foreach (var (name, value) in opts)
        {
            SockOptNames.TryResolve(name, out int level, out int optname);
            int r = SocketCalls.Setsockopt(files, fd, level, optname, value);
            if (r < 0) throw new ScenarioException($"flow \"{Spec.Name}\": setsockopt {name}={value}: {Errno.Name(-r)}");
        }
    }

    private protected int Check(int r, string what)
    {
        if (r < 0) throw new ScenarioException($"flow \"{Spec.Name}\": {what}: {Errno.Name(-r)}");
        return r;
    }

    /// <summary>The client connects (non-blocking: EINPROGRESS).</summary>
    private protected void OpenClient()
    {
        var f = Client.Files;
        ClientFd = Check(SocketCalls.Socket(f, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), "socket");
        ApplyOptions(f, ClientFd, Spec.SockOpts);
        Check(SocketCalls.Bind(f, ClientFd, SockAddr.In(Client.Address, (ushort)ClientPort)), "bind");
        int r = SocketCalls.Connect(f, ClientFd, SockAddr.In(Server.Address, (ushort)ServerPort));
        if (r < 0 && r != -Errno.EINPROGRESS) Fail("connect", r);
        Sim.MarkDirty(Client);
    }

    /// <summary>Whether the client's connect completed: true when connected; false while pending or failed (then <see cref="Error"/> is set).</summary>
    private protected bool ConnectDone()
    {
        int mask = SocketCalls.SockPoll(Client.Files, ClientFd);
        if ((mask & (POLLOUT | POLLERR | POLLHUP)) == 0) return false;
        SocketCalls.Getsockopt(Client.Files, ClientFd, SOL_SOCKET, SO_ERROR, out int err);
        if (err != 0)
        {
            Fail("connect", -err);
            return false;
        }
        return true;
    }

    /// <summary>Accepts the connection when it is there; true once the server has its socket.</summary>
    private protected bool AcceptDone()
    {
        if (ServerFd >= 0) return true;
        if (ServerFd == -2) return false; // closed already
        int fd = SocketCalls.Accept4(Server.Files, ListenFd, out _, SOCK_NONBLOCK);
        if (fd == -Errno.EAGAIN) return false;
        if (fd < 0) { Fail("accept", fd); return false; }
        ServerFd = fd;
        return true;
    }

    /// <summary>Records an error and closes both ends.</summary>
    private protected void Fail(string what, int r)
    {
        Error ??= $"{what}: {Errno.Name(-r)}";
        CloseClient();
        CloseServer();
    }

    private protected void CloseClient()
    {
        if (ClientFd < 0) return;
        if (SampledHost == Client && SampledFd == ClientFd) Capture();
        SocketCalls.Close(Client.Files, ClientFd);
        ClientFd = -2;
    }

    private protected void CloseServer()
    {
        if (ServerFd < 0) return;
        if (SampledHost == Server && SampledFd == ServerFd) Capture();
        SocketCalls.Close(Server.Files, ServerFd);
        ServerFd = -2;
    }

    /// <summary>Reads TCP_INFO of the sampled socket, or null when it has none.</summary>
    public TcpInfo? ReadInfo()
    {
        int fd = SampledFd;
        if (fd < 0) return null;
        Span<byte> buf = stackalloc byte[TcpInfo.Size];
        int len = buf.Length;
        if (SocketCalls.Getsockopt(SampledHost.Files, fd, IPPROTO_TCP, TCP_INFO, buf, ref len) < 0) return null;
        Span<byte> name = stackalloc byte[16]; // TCP_CA_NAME_MAX
        int nlen = name.Length;
        string cc = SocketCalls.Getsockopt(SampledHost.Files, fd, IPPROTO_TCP, TCP_CONGESTION, name, ref nlen) == 0
            ? Encoding.ASCII.GetString(name[..nlen].IndexOf((byte)0) is int nul and >= 0 ? name[..nul] : name[..nlen])
            : Spec.Cc ?? "";
        var info = TcpInfo.Parse(buf[..len], cc);
        // The congestion control's own state (getsockopt TCP_CC_INFO: bbr_get_info, dctcp_get_info), as ss -i shows it.
        if (cc is "bbr" or "dctcp" or "dctcp-reno")
        {
            Span<byte> ccInfo = stackalloc byte[32]; // sizeof(union tcp_cc_info) is 20
            int clen = ccInfo.Length;
            if (SocketCalls.Getsockopt(SampledHost.Files, fd, IPPROTO_TCP, TCP_CC_INFO, ccInfo, ref clen) == 0 && clen > 0)
                info = cc == "bbr" ? info with { Bbr = BbrInfo.Parse(ccInfo[..clen]) } : info with { Dctcp = DctcpInfo.Parse(ccInfo[..clen]) };
        }
        return info;
    }

    /// <summary>Keeps the sampled socket's last TCP_INFO (before it closes, at the end).</summary>
    internal void Capture()
    {
        if (ReadInfo() is { } i) LastInfo = i;
    }

    /// <summary>Reads everything the socket has; returns the bytes, and sets <paramref name="eof"/> at the end of the stream.</summary>
    private protected long Drain(FdTable files, int fd, out bool eof)
    {
        eof = false;
        long total = 0;
        while (true)
        {
            int n = SocketCalls.Recv(files, fd, Sink, MSG_DONTWAIT);
            if (n > 0) { total += n; continue; }
            if (n == 0) eof = true;
            else if (n != -Errno.EAGAIN) Fail("recv", n);
            return total;
        }
    }

    /// <summary>Writes up to <paramref name="bytes"/>; returns how many the socket took.</summary>
    private protected long Write(FdTable files, int fd, long bytes)
    {
        long total = 0;
        while (bytes > 0)
        {
            int n = SocketCalls.Send(files, fd, Zeros.AsSpan(0, (int)Math.Min(bytes, Zeros.Length)), MSG_DONTWAIT);
            if (n > 0) { total += n; bytes -= n; continue; }
            if (n != -Errno.EAGAIN) Fail("send", n);
            break;
        }
        return total;
    }

    private protected void Received(long n)
    {
        if (n <= 0) return;
        DeliveredBytes += n;
        LastByteNs = Sim.AbsNow;
    }

    /// <summary>Does what the application does after its host's stack was polled.</summary>
    internal abstract void Service(SimHost host);

    /// <inheritdoc/>
    public abstract void OnEvent(int kind, SimFrame? frame, long arg);
}

/// <summary>A bulk transfer from the client to the server (N bytes or until stopped), or an on/off sender.</summary>
public sealed class BulkFlow : FlowApp
{
    private readonly bool _onOff;
    private readonly SimRandom _rng;
    private bool _connected, _shut, _on = true;
    private long _toSend;

    internal BulkFlow(Simulator sim, FlowSpec spec, int id, SimHost client, SimHost server, bool onOff) : base(sim, spec, id, client, server)
    {
        _onOff = onOff;
        _toSend = spec.Bytes ?? long.MaxValue;
        _rng = new SimRandom(sim.Seed, 0x10000 + (ulong)id);
    }

    /// <inheritdoc/>
    public override SimHost SampledHost => Client;
    /// <inheritdoc/>
    public override int SampledFd => ClientFd;

    /// <inheritdoc/>
    public override void OnEvent(int kind, SimFrame? frame, long arg)
    {
        switch (kind)
        {
            case EvStart:
                OpenClient();
                if (_onOff) Sim.Events.Schedule(Sim.AbsNow + Period(Spec.OnNs), this, EvTimer);
                break;
            case EvStop:
                Stopping = true;
                Sim.MarkDirty(Client);
                break;
            case EvTimer:
                if (Stopping || ClientFd < 0) break;
                _on = !_on;
                Sim.Events.Schedule(Sim.AbsNow + Period(_on ? Spec.OnNs : Spec.OffNs), this, EvTimer);
                Sim.MarkDirty(Client);
                break;
        }
    }

    private long Period(long mean) => Spec.Exponential ? Math.Max(1, (long)_rng.Exponential(mean)) : mean;

    internal override void Service(SimHost host)
    {
        if (host == Client) ServiceClient();
        else ServiceServer();
    }

    private void ServiceClient()
    {
        if (ClientFd < 0) return;
        if (!_connected)
        {
            if (!ConnectDone()) return;
            _connected = true;
        }
        if (!_shut)
        {
            if (_on && !Stopping && _toSend > 0) _toSend -= Write(Client.Files, ClientFd, _toSend);
            if (ClientFd < 0) return;
            if (_toSend == 0 || Stopping)
            {
                SocketCalls.Shutdown(Client.Files, ClientFd, SHUT_WR);
                _shut = true;
            }
        }
        if (_shut)
        {
            // Wait for the server's FIN (it closes when it has read everything), then close.
            Drain(Client.Files, ClientFd, out bool eof);
            if (eof) CloseClient();
        }
    }

    private void ServiceServer()
    {
        if (!AcceptDone()) return;
        Received(Drain(Server.Files, ServerFd, out bool eof));
        if (eof && ServerFd >= 0)
        {
            FinishedNs = Sim.AbsNow;
            CloseServer();
        }
    }
}

/// <summary>Requests from the client and responses from the server, one at a time, with a think time between them.</summary>
public sealed class RequestResponseFlow : FlowApp
{
    private enum State { Connecting, Sending, Awaiting, Thinking, Closing }
    private State _state = State.Connecting;
    private long _reqLeft, _respLeft, _requestStart, _issued;
    // server side
    private long _reqGot, _respPending;

    internal RequestResponseFlow(Simulator sim, FlowSpec spec, int id, SimHost client, SimHost server) : base(sim, spec, id, client, server) { }

    /// <inheritdoc/>
    public override SimHost SampledHost => Server;
    /// <inheritdoc/>
    public override int SampledFd => ServerFd;

    /// <inheritdoc/>
    public override void OnEvent(int kind, SimFrame? frame, long arg)
    {
        switch (kind)
        {
            case EvStart:
                OpenClient();
                break;
            case EvStop:
                Stopping = true;
                Sim.MarkDirty(Client);
                break;
            case EvTimer:
                if (_state == State.Thinking)
                {
                    NextRequest();
                    Sim.MarkDirty(Client);
                }
                break;
        }
    }

    private void NextRequest()
    {
        if (Stopping || (Spec.Count is { } c && _issued >= c))
        {
            _state = State.Closing;
            SocketCalls.Shutdown(Client.Files, ClientFd, SHUT_WR);
            return;
        }
        _issued++;
        _state = State.Sending;
        _reqLeft = Spec.RequestBytes;
        _respLeft = Spec.ResponseBytes;
        _requestStart = Sim.AbsNow;
    }

    internal override void Service(SimHost host)
    {
        if (host == Client) ServiceClient();
        else ServiceServer();
    }

    private void ServiceClient()
    {
        if (ClientFd < 0) return;
        if (_state == State.Connecting)
        {
            if (!ConnectDone()) return;
            NextRequest();
        }
        if (_state == State.Sending)
        {
            _reqLeft -= Write(Client.Files, ClientFd, _reqLeft);
            if (ClientFd < 0) return;
            if (_reqLeft == 0) _state = State.Awaiting;
        }
        if (_state is State.Awaiting or State.Closing or State.Thinking)
        {
            long n = Drain(Client.Files, ClientFd, out bool eof);
            Received(n);
            if (_state == State.Awaiting)
            {
                _respLeft -= n;
                if (_respLeft <= 0)
                {
                    CompletionTimesNs.Add(Sim.AbsNow - _requestStart);
                    if (Spec.ThinkNs > 0 && !Stopping)
                    {
                        _state = State.Thinking;
                        Sim.Events.Schedule(Sim.AbsNow + Spec.ThinkNs, this, EvTimer);
                    }
                    else
                    {
                        NextRequest();
                        if (_state == State.Sending) ServiceClient();
                    }
                }
            }
            else if (_state == State.Thinking && Stopping)
            {
                _state = State.Closing;
                SocketCalls.Shutdown(Client.Files, ClientFd, SHUT_WR);
            }
            if (eof && ClientFd >= 0)
            {
                if (_state != State.Closing && Error is null) Error = "the server closed first";
                FinishedNs = Sim.AbsNow;
                CloseClient();
            }
        }
    }

    private void ServiceServer()
    {
        if (!AcceptDone()) return;
        long n = Drain(Server.Files, ServerFd, out bool eof);
        _reqGot += n;
        while (_reqGot >= Spec.RequestBytes)
        {
            _reqGot -= Spec.RequestBytes;
            _respPending += Spec.ResponseBytes;
        }
        if (_respPending > 0 && ServerFd >= 0) _respPending -= Write(Server.Files, ServerFd, _respPending);
        if (eof && ServerFd >= 0 && _respPending == 0) CloseServer();
    }
}
