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

    private static string Describe(string ns, string tap) =>
        Shell.Run("ip", "-n", ns, "-d", "addr", "show").StdOut;
}
