namespace NetStack.PeerTests;

/// <summary>setup-tap.sh: idempotent set-up of the namespace and TAP, and --down.</summary>
public sealed class SetupTapScriptTests(ITestOutputHelper output)
{
    private static readonly string Script = Path.Combine(Shell.RepoRoot, "setup-tap.sh");

    [PeerFact]
    public void SetupTap_Twice_SameResult_DownRemovesIt()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        string addr = $"10.7.{x}.1/24";
        try
        {
            var first = Shell.Run("bash", Script, "--ns", ns, "--tap", tap, "--addr", addr);
            output.WriteLine(first.ToString());
            Assert.Equal(0, first.ExitCode);
            Assert.Contains($"created network namespace {ns}", first.StdOut);
            string state = Describe(ns, tap);

            var second = Shell.Run("bash", Script, "--ns", ns, "--tap", tap, "--addr", addr);
            output.WriteLine(second.ToString());
            Assert.Equal(0, second.ExitCode);
            Assert.Contains($"TAP {tap} exists", second.StdOut);
            Assert.Equal(state, Describe(ns, tap));

            Assert.Contains("tun type tap", state);
            Assert.Contains("qlen 10000", state);
            Assert.Contains($"inet {addr}", state);
            Assert.Contains("lo: <LOOPBACK,UP,LOWER_UP>", state);

            var down = Shell.Run("bash", Script, "--ns", ns, "--tap", tap, "--down");
            Assert.Equal(0, down.ExitCode);
            Assert.False(File.Exists($"/var/run/netns/{ns}"));
            var again = Shell.Run("bash", Script, "--ns", ns, "--down");
            Assert.Equal(0, again.ExitCode);
            Assert.Contains("nothing to remove", again.StdOut);
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
        }
    }

    [PeerFact]
    public void SetupTap_BadArguments_ClearMessage()
    {
        var r = Shell.Run("bash", Script, "--addr", "10.7.0.1");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("bad address '10.7.0.1'", r.StdErr);
        r = Shell.Run("bash", Script, "--bogus");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("unknown option '--bogus'", r.StdErr);
    }

    [Theory]
    [InlineData("--addr 300.1.1.1/24", "bad address '300.1.1.1/24': each part of a.b.c.d is 0 to 255")]
    [InlineData("--addr 10.7.0.1/0", "bad address '10.7.0.1/0': the prefix length")]
    [InlineData("--tap bad/name", "bad TAP name 'bad/name'")]
    [InlineData("--tap waytoolongname12345", "longer than 15 characters")]
    [InlineData("--ns a/b", "bad namespace name 'a/b'")]
    [InlineData("--txqueuelen ten", "bad --txqueuelen 'ten'")]
    [InlineData("--root-ns --ns foo", "--root-ns and --ns contradict each other")]
    [InlineData("--addr6 10.7.0.1/24", "bad --addr6 '10.7.0.1/24'")]
    [InlineData("--addr6 fd00::1/129", "bad --addr6 'fd00::1/129'")]
    public void SetupTap_BadValues_OneClearLine(string args, string message)
    {
        var r = Shell.Run("bash", [Script, .. args.Split(' ')]);
        output.WriteLine(r.ToString());
        Assert.Equal(1, r.ExitCode);
        var lines = r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("setup-tap.sh: ", lines[0]);
        Assert.Contains(message, lines[0]);
    }

    [PeerFact]
    public void SetupTap_Addr6_GivesTheKernelsSideAnIpv6AddressWithoutDad_Idempotent()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        try
        {
            Shell.Check("bash", Script, "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.1/24", "--addr6", "fd00:7::1/64");
            string state = Describe(ns, tap);
            Shell.Check("bash", Script, "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.1/24", "--addr6", "fd00:7::1/64");
            Assert.Equal(state, Describe(ns, tap));
            output.WriteLine(state);
            Assert.Contains("inet6 fd00:7::1/64 scope global nodad", state);
            Assert.Equal("0", Shell.Run("ip", "netns", "exec", ns, "sysctl", "-n", $"net.ipv6.conf.{tap}.accept_dad").StdOut.Trim());
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
        }
    }

    [PeerFact]
    public void SetupTap_BadTxqueuelen_CreatesNothing()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        try
        {
            var r = Shell.Run("bash", Script, "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.1/24", "--txqueuelen", "-3");
            Assert.Equal(1, r.ExitCode);
            Assert.Contains("bad --txqueuelen '-3'", r.StdErr);
            Assert.False(File.Exists($"/var/run/netns/{ns}"));
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
        }
    }

    [PeerFact]
    public void SetupTap_AnotherAddr_ReplacesIt_DownNamesTheTapItHeld()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        try
        {
            Shell.Check("bash", Script, "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.1/24");
            var second = Shell.Run("bash", Script, "--ns", ns, "--tap", tap, "--addr", $"10.8.{x}.1/24");
            output.WriteLine(second.ToString());
            Assert.Equal(0, second.ExitCode);
            Assert.Contains($"replaced 10.7.{x}.1/24 on {tap}", second.StdOut);
            var addrs = Shell.Run("ip", "-n", ns, "-4", "-o", "addr", "show", "dev", tap).StdOut.Trim().Split('\n');
            Assert.Single(addrs);
            Assert.Contains($"inet 10.8.{x}.1/24", addrs[0]);

            // --down without --tap: the message names the TAP the namespace held, not the default tap0.
            var down = Shell.Run("bash", Script, "--ns", ns, "--down");
            output.WriteLine(down.ToString());
            Assert.Equal(0, down.ExitCode);
            Assert.Contains($"removed network namespace {ns} (and TAP {tap} in it)", down.StdOut);
            Assert.DoesNotContain("tap0", down.StdOut);
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
        }
    }

    private static string Describe(string ns, string tap) =>
        Shell.Run("ip", "-n", ns, "-d", "addr", "show").StdOut;
}
