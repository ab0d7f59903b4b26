namespace NetStack.PeerTests;

/// <summary>The samples/ programs, run as a user runs them, against the kernel in a namespace of the test's own.</summary>
public sealed class SampleTests(ITestOutputHelper output)
{
    [PeerFact]
    public void EchoServer_EchoesWhatNcSends()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        try
        {
            Shell.Check("bash", Path.Combine(Shell.RepoRoot, "setup-tap.sh"), "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.1/24");
            using var server = new BackgroundProcess("dotnet",
                [Path.Combine(AppContext.BaseDirectory, "EchoServer.dll"), "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.2"],
                readyText: "echo server listening");
            server.WaitReady(TimeSpan.FromSeconds(30));
            var r = Shell.Run("ip", ["netns", "exec", ns, "nc", "-N", "-w", "10", $"10.7.{x}.2", "7"], TimeSpan.FromSeconds(30),
                stdin: "hello from the kernel\nsecond line\n");
            output.WriteLine(r.ToString());
            output.WriteLine(server.Output);
            Assert.Equal(0, r.ExitCode);
            Assert.Equal("hello from the kernel\nsecond line\n", r.StdOut);
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
        }
    }
}
