namespace NetStack.PeerTests;

/// <summary>
/// `netstack repl`, `ping` and `nc` as processes, on the loopback-only stack (--lo: no TAP, no
/// root), so they run everywhere. The TAP-attached variants are in <see cref="UdpPeerTests"/>.
/// </summary>
public sealed class SocketToolsCliTests(ITestOutputHelper output)
{
    private static readonly string CliDll = Path.Combine(AppContext.BaseDirectory, "NetStack.Cli.dll");

    [Fact]
    public void Repl_JsonLinesInAndOut()
    {
        string[] requests =
        [
            "{\"op\":\"socket\",\"domain\":\"AF_INET\",\"type\":\"SOCK_DGRAM|SOCK_NONBLOCK\",\"protocol\":0,\"as\":\"u\",\"id\":1}",
            "# comments and blank lines are skipped",
            "",
            "{\"op\":\"bind\",\"fd\":\"u\",\"addr\":\"127.0.0.1\",\"port\":7000}",
            "{\"op\":\"sendto\",\"fd\":\"u\",\"data\":\"68656c6c6f\",\"addr\":\"127.0.0.1\",\"port\":7000}",
            "{\"op\":\"sleep\",\"ms\":100}",
            "{\"op\":\"recvfrom\",\"fd\":\"u\",\"len\":3,\"flags\":[\"MSG_PEEK\",\"MSG_TRUNC\"]}",
            "{\"op\":\"recvfrom\",\"fd\":\"u\",\"len\":100}",
            "{\"op\":\"recv\",\"fd\":\"u\",\"len\":100}",
            "{\"op\":\"getsockname\",\"fd\":\"u\"}",
            "{\"op\":\"getsockopt\",\"fd\":\"u\",\"level\":\"SOL_SOCKET\",\"name\":\"SO_TYPE\"}",
            "{\"op\":\"fcntl\",\"fd\":\"u\",\"cmd\":\"F_GETFL\"}",
            "{\"op\":\"socket\",\"domain\":\"AF_INET\",\"type\":\"SOCK_STREAM\",\"protocol\":\"IPPROTO_UDP\"}",
            "{\"op\":\"nonsense\"}",
            "{not json",
        ];
        var r = Shell.Run("dotnet", [CliDll, "repl", "--lo"], TimeSpan.FromSeconds(60), stdin: string.Join('\n', requests) + "\n");
        output.WriteLine(r.ToString());
        Assert.Equal(0, r.ExitCode);
        var lines = r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(
        [
            "{\"ret\":3,\"id\":1}",
            "{\"ret\":0}",
            "{\"ret\":5}",
            "{\"ret\":0}",
            "{\"ret\":5,\"data\":\"68656c\",\"addr\":\"127.0.0.1\",\"port\":7000}",
            "{\"ret\":5,\"data\":\"68656c6c6f\",\"addr\":\"127.0.0.1\",\"port\":7000}",
            "{\"ret\":-1,\"errno\":\"EAGAIN\"}",
            "{\"ret\":0,\"addr\":\"127.0.0.1\",\"port\":7000}",
            "{\"ret\":0,\"len\":4,\"hex\":\"02000000\",\"value\":2}",
            "{\"ret\":2050}",
            "{\"ret\":-1,\"errno\":\"EPROTONOSUPPORT\"}",
        ], lines[..11]);
        Assert.StartsWith("{\"ret\":-1,\"error\":\"unknown op \\\"nonsense\\\"", lines[11].Replace("\\u0022", "\\\""));
        Assert.StartsWith("{\"ret\":-1,\"error\":\"bad JSON", lines[12]);
    }

    [Fact]
    public void Ping_Loopback_LikePing8()
    {
        var r = Shell.Run("dotnet", [CliDll, "ping", "--lo", "-c", "3", "-i", "0.05", "127.0.0.1"], TimeSpan.FromSeconds(60));
        output.WriteLine(r.ToString());
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.", r.StdOut);
        Assert.Contains("64 bytes from 127.0.0.1: icmp_seq=2 ttl=64 time=", r.StdOut);
        Assert.Contains("--- 127.0.0.1 ping statistics ---", r.StdOut);
        var s = PingSummary.Parse(r.StdOut);
        Assert.Equal((3, 3), (s.Transmitted, s.Received));
    }

    [Fact]
    public void Ping_BadArguments_OneLine_Exit2()
    {
        var r = Shell.Run("dotnet", [CliDll, "ping", "--lo", "-c", "zero", "127.0.0.1"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("netstack ping: bad count 'zero'", r.StdErr.Trim());
        r = Shell.Run("dotnet", [CliDll, "ping", "--lo", "not-an-address"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.StdErr.Trim().Split('\n'));
    }

    [Fact]
    public void Nc_Udp_ToAClosedPort_ReportsEconnrefused()
    {
        var r = Shell.Run("dotnet", [CliDll, "nc", "--lo", "-u", "-w", "1", "127.0.0.1", "9"], TimeSpan.FromSeconds(60), stdin: "hello\n");
        output.WriteLine(r.ToString());
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("", r.StdOut);
        Assert.Contains("netstack nc: recv: ECONNREFUSED", r.StdErr);
    }

    [Fact]
    public void Lo_WithOwnOrAControlSocket_IsAUsageError()
    {
        // --lo is always a stack of the tool's own: naming a running stack with it contradicts it.
        var r = Shell.Run("dotnet", [CliDll, "nc", "--lo", "--own", "127.0.0.1", "9"], TimeSpan.FromSeconds(60), stdin: "");
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("netstack nc: --lo is always a stack of its own: --own adds nothing", r.StdErr.Trim());
        r = Shell.Run("dotnet", [CliDll, "ping", "--lo", "--name", "other", "127.0.0.1"], TimeSpan.FromSeconds(60));
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("netstack ping: --lo is a stack of its own: --name/--control name a running one", r.StdErr.Trim());
    }

    [Fact]
    public void Tools_WithNoStackRunningUnderTheName_SayTheyBringUpTheirOwn()
    {
        // Nothing runs on this control path: the tool says so and brings up its own (which needs a TAP:
        // a missing namespace is the failure here, after the line that says which stack it uses).
        string path = Path.Combine(Path.GetTempPath(), $"nothing-{Environment.ProcessId}.sock");
        var r = Shell.Run("dotnet", [CliDll, "ping", "--control", path, "--ns", "no-such-ns-" + Environment.ProcessId, "-c", "1", "10.7.0.1"], TimeSpan.FromSeconds(60));
        output.WriteLine(r.ToString());
        Assert.NotEqual(0, r.ExitCode);
        Assert.StartsWith($"netstack ping: no stack is running as netstack ({path}): bringing up its own\n", r.StdErr);
    }
}
