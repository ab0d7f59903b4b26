using System.Text.Json.Nodes;
using NetStack.Cli;
using NetStack.Cli.Commands;
using NetStack.Control;
using NetStack.Tests.Tcp;
using static NetStack.Wire.TcpFlags;

namespace NetStack.Tests.ControlPlane;

/// <summary>
/// The SYN cookie and listen-queue counters through the control socket, printed in net-tools
/// netstat's words ("SYN cookies sent", "times the listen queue of a socket overflowed"...), and the
/// SYN flooding warning through the "dmesg" op.
/// </summary>
public sealed class SyncookiesControlTests
{
    [Fact]
    public void CookiesAndOverflows_PrintAsNetstatWordsThem_WarningInDmesg()
    {
        using var f = TcpFixture.Listening(backlog: 1);
        // Two requests fill the SYN queue (qlen 2 > backlog 1); the third SYN gets a cookie.
        f.Send(SYN, seq: 100, srcPort: 41001);
        uint iss1 = f.Expect(SYN | ACK).Seq;
        f.Send(SYN, seq: 200, srcPort: 41002);
        uint iss2 = f.Expect(SYN | ACK).Seq;
        f.Send(SYN, seq: 300, srcPort: 41003);
        uint cookie = f.Expect(SYN | ACK).Seq;
        f.Send(ACK, seq: 301, ack: cookie + 1, srcPort: 41003);        // SyncookiesRecv; accept queue 1
        f.Send(ACK, seq: 401, ack: 12345, srcPort: 41004);              // SyncookiesFailed, reset
        f.Expect(RST, seq: 12345);
        f.Send(ACK, seq: 101, ack: iss1 + 1, srcPort: 41001);          // accept queue 2 (backlog + 1)
        f.Send(ACK, seq: 201, ack: iss2 + 1, srcPort: 41002);          // ListenOverflows, ListenDrops
        f.ExpectNothing();

        var dir = Directory.CreateTempSubdirectory("nsctl-cookies-");
        try
        {
            using var server = new ControlServer(f.Net, "cookies", Path.Combine(dir.FullName, "c.sock"));
            server.Start();
            using var c = ControlClient.Connect(server.Path);
            var tables = c.Request(new JsonObject { ["op"] = "counters" })["counters"]!.AsObject();
            string tcp = NetstatStatistics.Render(NetstatCommand.ProcLines(tables), raw: false, tcp: true, udp: false);
            Assert.Contains("TcpExt:\n    1 SYN cookies sent\n    1 SYN cookies received\n    1 invalid SYN cookies received\n", tcp);
            Assert.Contains("    1 times the listen queue of a socket overflowed\n    1 SYNs to LISTEN sockets dropped\n", tcp);
            Assert.Contains("    TCPReqQFullDoCookies: 1\n", tcp);

            var lines = c.Request(new JsonObject { ["op"] = "dmesg" })["lines"]!.AsArray().Select(l => (string)l!).ToArray();
            Assert.Single(lines);
            Assert.Matches(@"^\[ +\d+\.\d{6}\] TCP: request_sock_TCP: Possible SYN flooding on port 10\.0\.0\.1:80\. Sending cookies\.$", lines[0]);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
