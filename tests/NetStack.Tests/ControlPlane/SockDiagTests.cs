using System.Text.Json.Nodes;
using NetStack.Api;
using NetStack.Cli.Commands;
using NetStack.Control;
using NetStack.Core;
using NetStack.Net;
using NetStack.Tests.Tcp;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.ControlPlane;

/// <summary>
/// What `ss -m -e -o -w` shows of a stack's sockets, through the control socket's "ss" op:
/// sock_diag's memory, inode numbers, cookies, uid, shutdown and timers, raw sockets beside TCP and
/// UDP ones, and the text ss prints after the peer.
/// </summary>
public sealed class SockDiagTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("nsctl-diag-");

    public void Dispose() => _dir.Delete(recursive: true);

    private List<JsonObject> Ss(NetNamespace net, bool info = false)
    {
        using var server = new ControlServer(net, "t", Path.Combine(_dir.FullName, $"{Guid.NewGuid():N}.sock"));
        server.Start();
        using var c = ControlClient.Connect(server.Path);
        return c.Request(new JsonObject { ["op"] = "ss", ["info"] = info })["sockets"]!.AsArray().Select(n => n!.AsObject()).ToList();
    }

    [Fact]
    public void RawUdpTcp_CarryInodeCookieUidShutdownAndMemory_AsSsPrintsThem()
    {
        using var s = new TwoStacks();
        s.B.Files.Uid = 1234;   // B's sockets belong to user 1234
        var (lfd, _, afd) = TcpTwoStackTests.Connect(s);
        var (_, cfd, afd2) = TcpTwoStackTests.Connect(s, 5001);
        Assert.Equal(100, SocketCalls.Send(s.A.Files, cfd, new byte[100], 0));
        s.Pump();
        Assert.Equal(0, SocketCalls.Shutdown(s.B.Files, afd, SHUT_WR));
        s.Pump();
        int raw = SocketCalls.Socket(s.B.Files, AF_INET, SOCK_RAW, IPPROTO_ICMP);
        int udp = SocketCalls.Socket(s.B.Files, AF_INET, SOCK_DGRAM, 0);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, udp, SockAddr.In(0, 7000)));

        var rows = Ss(s.B);
        Assert.Equal(["tcp", "tcp", "tcp", "tcp", "udp", "raw"], rows.Select(r => (string)r["netid"]!));   // listeners first, as inet_diag dumps
        var r = rows.Single(x => (string)x["netid"]! == "raw");
        Assert.Equal("0.0.0.0:1", (string)r["local"]!);   // a raw socket's port is its protocol
        Assert.Equal(1, (int)r["protocol"]!);
        Assert.Equal(s.B.Files.Lookup(raw)!.Ino, (ulong)r["ino"]!);
        Assert.Equal([0u, 212992u, 0u, 212992u, 0u, 0u, 0u, 0u, 0u], r["skmem"]!.AsArray().Select(n => (uint)n!));
        Assert.Equal($" uid:1234 ino:{(ulong)r["ino"]!} sk:{(ulong)r["cookie"]!:x} <->\n\t skmem:(r0,rb212992,t0,tb212992,f0,w0,o0,bl0,d0)",
            SsCommand.Ext(r, showOptions: true, details: true, showMem: true, showInfo: false, numeric: true));
        Assert.Equal("\n\t", SsCommand.Ext(r, showOptions: false, details: false, showMem: false, showInfo: true, numeric: true));   // ss -i: an empty second line for a raw ICMP socket
        Assert.Equal("0.0.0.0:7000", (string)rows.Single(x => (string)x["netid"]! == "udp")["local"]!);

        // The accepted connection whose sending side B shut down, with 100 bytes unread on the other one.
        var shut = rows.Single(x => (string)x["local"]! == "10.9.0.2:5000" && (string)x["state"]! != "Listen");
        Assert.Equal(2, (int)shut["shutdown"]!);
        Assert.Equal(1234, (long)shut["uid"]!);   // inherited from the listener
        Assert.EndsWith(" <--", SsCommand.Ext(shut, showOptions: false, details: true, showMem: false, showInfo: false, numeric: true));
        Assert.Equal(s.B.Files.Lookup(afd)!.Ino, (ulong)shut["ino"]!);
        var unread = rows.Single(x => (string)x["local"]! == "10.9.0.2:5001" && (string)x["state"]! != "Listen");
        var mem = NetStackInfo.GetTcpSockets(s.B).Single(x => x.LocalEndPoint.Port == 5001 && x.State == TcpState.Established).Memory!;
        Assert.True(mem.RmemAlloc > 100);   // the truesize of what waits in the receive queue
        Assert.Equal(mem.RmemAlloc, (uint)unread["skmem"]![0]!);
        Assert.Equal(s.B.Files.Lookup(afd2)!.Ino, (ulong)unread["ino"]!);
        Assert.Equal(100, (long)unread["recvq"]!);

        // Inodes and cookies are the sockets' own, and a cookie stays what it was.
        Assert.Equal(rows.Count, rows.Select(x => (ulong)x["cookie"]!).Distinct().Count());
        Assert.NotEqual(s.B.Files.Lookup(lfd)!.Ino, s.B.Files.Lookup(afd)!.Ino);
        Assert.Equal(rows.Select(x => (ulong)x["cookie"]!), Ss(s.B).Select(x => (ulong)x["cookie"]!));
    }

    [Fact]
    public void Timers_Retransmit_AndTimeWait_WhichHasNoInodeNorMemory()
    {
        using var s = new TwoStacks();
        var (_, cfd, afd) = TcpTwoStackTests.Connect(s);
        Assert.Equal(10, SocketCalls.Send(s.A.Files, cfd, new byte[10], 0));   // not delivered yet: the retransmit timer runs
        var pending = NetStackInfo.GetTcpSockets(s.A).Single();
        Assert.Equal(new SocketTimerInfo("on", pending.TcpInfo!.Value.Rto, 0), pending.Timer);
        var row = Ss(s.A).Single(x => (string)x["netid"]! == "tcp");
        Assert.StartsWith($" timer:(on,{SsCommand.MsTimer((long)pending.TcpInfo.Value.Rto.TotalMilliseconds)},0) ino:", SsCommand.Ext(row, true, true, false, false, true));
        Assert.Equal("", SsCommand.Ext(row, showOptions: false, details: false, showMem: false, showInfo: false, numeric: true));

        s.Pump();
        Assert.Equal(10, SocketCalls.Recv(s.B.Files, afd, new byte[10], 0));   // read, so that B's close is a FIN, not a reset
        Assert.Equal(0, SocketCalls.Close(s.A.Files, cfd));
        s.Pump();
        Assert.Equal(0, SocketCalls.Close(s.B.Files, afd));
        s.Pump();
        var tw = NetStackInfo.GetTcpSockets(s.A).Single();
        Assert.Equal(TcpState.TimeWait, tw.State);
        Assert.Equal((0UL, (SocketMemoryInfo?)null, (int?)null), (tw.Inode, tw.Memory, tw.Shutdown));
        Assert.Equal(new SocketTimerInfo("timewait", TimeSpan.FromSeconds(60), 0), tw.Timer);
        var twRow = Ss(s.A).Single(x => (string)x["netid"]! == "tcp");
        // No shutdown, no skmem: inet_twsk_diag_fill() adds no attributes; -m still opens the second line.
        Assert.Equal($" timer:(timewait,1min,0) ino:0 sk:{tw.Cookie:x}\n\t", SsCommand.Ext(twRow, true, true, true, false, true));
    }
}
