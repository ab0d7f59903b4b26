using System.Text.Json.Nodes;
using NetStack.Control;
using NetStack.Core;
using NetStack.Net;

namespace NetStack.Tests.Control;

/// <summary>The repl's defects found when it was tried as a new user would (issue 8), one test each.</summary>
public class SocketShellTests
{
    private static JsonObject Run(SocketShell shell, string line) => (JsonObject)JsonNode.Parse(shell.Execute(line))!;

    private static void AssertRefused(JsonObject reply, string mentions)
    {
        Assert.Equal(-1, (int)reply["ret"]!);
        string error = (string?)reply["error"] ?? "";
        Assert.Contains(mentions, error);
        // A message for people, not .NET's exception text.
        Assert.DoesNotContain("Exception", error);
        Assert.DoesNotContain("System.", error);
    }

    [Theory]
    [InlineData(70000)]
    [InlineData(-1)]
    [InlineData(65536)]
    public void Bind_PortOutOfRange_IsEinval_NotTruncated(int port)
    {
        using var net = new NetNamespace("t", new VirtualClock());
        using var shell = new SocketShell(net.Files);
        Assert.Equal(3, (int)Run(shell, "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}")["ret"]!);
        var r = Run(shell, $"{{\"op\":\"bind\",\"fd\":3,\"addr\":\"127.0.0.1\",\"port\":{port}}}");
        AssertRefused(r, "\"port\"");
        Assert.Equal("EINVAL", (string?)r["errno"]);
        Assert.Contains("0..65535", (string)r["error"]!);
        // Nothing was bound (70000 would have been 4464, -1 65535).
        Assert.Equal(0, (int)Run(shell, "{\"op\":\"getsockname\",\"fd\":3}")["port"]!);
        Assert.Equal(0, (int)Run(shell, "{\"op\":\"bind\",\"fd\":3,\"addr\":\"127.0.0.1\",\"port\":65535}")["ret"]!);
    }

    [Fact]
    public void Sleep_AboveTheLimit_IsRefusedAtOnce_NotCutShort()
    {
        using var net = new NetNamespace("t", new VirtualClock());
        using var shell = new SocketShell(net.Files);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var r = Run(shell, "{\"op\":\"sleep\",\"ms\":100000000000}");
        Assert.True(sw.ElapsedMilliseconds < 1000);
        AssertRefused(r, "\"ms\"");
        Assert.Contains(SocketShell.MaxSleepMs.ToString(System.Globalization.CultureInfo.InvariantCulture), (string)r["error"]!);
        Assert.Equal(0, (int)Run(shell, "{\"op\":\"sleep\",\"ms\":1}")["ret"]!);
    }

    [Theory]
    [InlineData("{\"op\":\"recv\",\"fd\":3,\"len\":-1}", "\"len\"")]
    [InlineData("{\"op\":\"recvfrom\",\"fd\":3,\"len\":-1}", "\"len\"")]
    [InlineData("{\"op\":\"recvmsg\",\"fd\":3,\"len\":-1}", "\"len\"")]
    [InlineData("{\"op\":\"recvmsg\",\"fd\":3,\"controllen\":-1}", "\"controllen\"")]
    [InlineData("{\"op\":\"recvmsg\",\"fd\":3,\"control\":64}", "\"control\"")]
    [InlineData("{\"op\":\"send\",\"fd\":3,\"len\":-1}", "\"len\"")]
    [InlineData("{\"op\":\"sleep\",\"ms\":-5}", "\"ms\"")]
    [InlineData("{\"op\":\"recv\",\"fd\":3,\"len\":1.5}", "\"len\"")]
    [InlineData("{\"op\":\"setsockopt\",\"fd\":3,\"level\":\"SOL_SOCKET\",\"name\":\"SO_LINGER\",\"linger\":[1]}", "\"linger\"")]
    [InlineData("{\"op\":\"poll\",\"fds\":[1,2]}", "\"fds\"")]
    [InlineData("{\"op\":\"send\",\"fd\":3,\"data\":\"abc\"}", "\"data\"")]
    [InlineData("{\"op\":\"recv\",\"fd\":\"nosuchname\"}", "nosuchname")]
    public void NegativeOrMalformedValues_AreAnErrorReply_WithoutDotNetText(string line, string mentions)
    {
        using var net = new NetNamespace("t", new VirtualClock());
        using var shell = new SocketShell(net.Files);
        Assert.Equal(3, (int)Run(shell, "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM|SOCK_NONBLOCK\"}")["ret"]!);
        AssertRefused(Run(shell, line), mentions);
        Assert.Equal(0, (int)Run(shell, "{\"op\":\"close\",\"fd\":3}")["ret"]!);
    }

    [Fact]
    public void Recvmsg_RepliesMsgFlagsControllenAndTheControlMessages()
    {
        using var net = new NetNamespace("t");
        net.Start();
        using var shell = new SocketShell(net.Files);
        string[] setup =
        [
            "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM|SOCK_NONBLOCK\",\"as\":\"u\"}",
            "{\"op\":\"bind\",\"fd\":\"u\",\"addr\":\"127.0.0.1\",\"port\":5000}",
            "{\"op\":\"setsockopt\",\"fd\":\"u\",\"level\":\"SOL_IP\",\"name\":\"IP_PKTINFO\",\"value\":1}",
            "{\"op\":\"setsockopt\",\"fd\":\"u\",\"level\":0,\"name\":12,\"value\":1}",
            "{\"op\":\"setsockopt\",\"fd\":\"u\",\"level\":\"SOL_IP\",\"name\":\"IP_RECVTOS\",\"value\":1}",
            "{\"op\":\"setsockopt\",\"fd\":\"u\",\"level\":\"SOL_IP\",\"name\":\"IP_RECVORIGDSTADDR\",\"value\":1}",
            "{\"op\":\"sendto\",\"fd\":\"u\",\"text\":\"hi\",\"addr\":\"127.0.0.1\",\"port\":5000}",
            "{\"op\":\"sendto\",\"fd\":\"u\",\"text\":\"hi\",\"addr\":\"127.0.0.1\",\"port\":5000}",
            "{\"op\":\"sleep\",\"ms\":200}",
        ];
        foreach (var line in setup) Assert.True((int)Run(shell, line)["ret"]! >= 0, line);
        const string Pktinfo = "{\"level\":\"SOL_IP\",\"type\":\"IP_PKTINFO\",\"ifindex\":1,\"spec_dst\":\"127.0.0.1\",\"addr\":\"127.0.0.1\"}";
        Assert.Equal(
            "{\"ret\":2,\"data\":\"6869\",\"addr\":\"127.0.0.1\",\"port\":5000,\"flags\":0,\"controllen\":112,\"cmsg\":[" + Pktinfo +
            ",{\"level\":\"SOL_IP\",\"type\":\"IP_TTL\",\"value\":64},{\"level\":\"SOL_IP\",\"type\":\"IP_TOS\",\"value\":0}" +
            ",{\"level\":\"SOL_IP\",\"type\":\"IP_ORIGDSTADDR\",\"addr\":\"127.0.0.1\",\"port\":5000}]}",
            shell.Execute("{\"op\":\"recvmsg\",\"fd\":\"u\",\"len\":100}"));
        // 50 bytes: IP_PKTINFO whole, IP_TTL cut to its header and two bytes, MSG_CTRUNC.
        Assert.Equal(
            "{\"ret\":2,\"data\":\"6869\",\"addr\":\"127.0.0.1\",\"port\":5000,\"flags\":8,\"controllen\":50,\"cmsg\":[" + Pktinfo +
            ",{\"level\":\"SOL_IP\",\"type\":\"IP_TTL\",\"len\":18,\"hex\":\"4000\"}]}",
            shell.Execute("{\"op\":\"recvmsg\",\"fd\":\"u\",\"len\":100,\"controllen\":50,\"flags\":\"MSG_DONTWAIT\"}"));
        Assert.Equal("{\"ret\":-1,\"errno\":\"EAGAIN\"}", shell.Execute("{\"op\":\"recvmsg\",\"fd\":\"u\"}"));
    }

    [Fact]
    public async Task UnknownKey_IsRefusedNamingIt_ATypoDoesNotBlock()
    {
        using var net = new NetNamespace("t");
        net.Start();
        using var shell = new SocketShell(net.Files);
        Assert.Equal(3, (int)Run(shell, "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}")["ret"]!);
        // "flag" for "flags": ignored, recv would block forever on an empty blocking socket.
        var call = Task.Run(() => Run(shell, "{\"op\":\"recv\",\"fd\":3,\"len\":10,\"flag\":\"MSG_DONTWAIT\"}"));
        var r = await call.WaitAsync(TimeSpan.FromSeconds(10));
        AssertRefused(r, "unknown key \"flag\"");
        Assert.Contains("flags", (string)r["error"]!); // what it takes
        AssertRefused(Run(shell, "{\"op\":\"reset\",\"fd\":3}"), "\"fd\"");
        Assert.Equal(-1, (int)Run(shell, "{\"op\":\"recv\",\"fd\":3,\"len\":10,\"flags\":\"MSG_DONTWAIT\"}")["ret"]!);
    }

    [Fact]
    public void Ioctl_TakesItsRequestAsRequest_OrReq()
    {
        using var net = new NetNamespace("t", new VirtualClock());
        using var shell = new SocketShell(net.Files);
        Run(shell, "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}");
        var a = Run(shell, "{\"op\":\"ioctl\",\"fd\":3,\"request\":\"FIONREAD\"}");
        Assert.Equal(0, (int)a["ret"]!);
        Assert.Equal(0, (int)a["value"]!);
        Assert.Equal(0, (int)Run(shell, "{\"op\":\"ioctl\",\"fd\":3,\"req\":\"FIONREAD\"}")["ret"]!);
        AssertRefused(Run(shell, "{\"op\":\"ioctl\",\"fd\":3}"), "missing \"request\"");
        Assert.Equal("ENOTTY", (string?)Run(shell, "{\"op\":\"ioctl\",\"fd\":3,\"request\":4660}")["errno"]);
    }

    [Fact]
    public void Getsockopt_TcpCongestion_IsTheName()
    {
        using var net = new NetNamespace("t", new VirtualClock());
        using var shell = new SocketShell(net.Files);
        Run(shell, "{\"op\":\"socket\",\"type\":\"SOCK_STREAM\"}");
        var r = Run(shell, "{\"op\":\"getsockopt\",\"fd\":3,\"level\":\"SOL_TCP\",\"name\":\"TCP_CONGESTION\"}");
        Assert.Equal(0, (int)r["ret"]!);
        Assert.Equal("cubic", (string?)r["value"]);
        Assert.Equal(0, (int)Run(shell, "{\"op\":\"setsockopt\",\"fd\":3,\"level\":\"SOL_TCP\",\"name\":\"TCP_CONGESTION\",\"hex\":\"72656e6f\"}")["ret"]!);
        Assert.Equal("reno", (string?)Run(shell, "{\"op\":\"getsockopt\",\"fd\":3,\"level\":\"SOL_TCP\",\"name\":\"TCP_CONGESTION\",\"len\":16}")["value"]);
    }
}
