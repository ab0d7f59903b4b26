namespace NetStack.PeerTests;

/// <summary>
/// The samples as users run them: processes attached to a TAP in a namespace of the test's own
/// (made by setup-tap.sh, deleted afterwards), talking to the Linux kernel on the other side.
/// </summary>
public sealed class SamplesPeerTests(ITestOutputHelper output)
{
    private static string Sample(string name) => Path.Combine(AppContext.BaseDirectory, name + ".dll");

    private static (string Ns, string Tap, string Kernel, string Stack) NewBareNamespace()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        Shell.Check("bash", Path.Combine(Shell.RepoRoot, "setup-tap.sh"), "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.1/24");
        return (ns, tap, $"10.7.{x}.1", $"10.7.{x}.2");
    }

    [PeerFact]
    public void AspNetCoreApp_AnswersCurl()
    {
        var (ns, tap, kernel, stack) = NewBareNamespace();
        try
        {
            using var app = new BackgroundProcess("dotnet", [Sample("AspNetCoreApp"), ns, tap, stack], readyText: "Application started").WaitReady(TimeSpan.FromSeconds(60));
            var r = Shell.Run("ip", ["netns", "exec", ns, "curl", "-sS", "-m", "20", "-i", $"http://{stack}/"]);
            output.WriteLine(r.ToString());
            output.WriteLine(app.Output);
            Assert.Equal(0, r.ExitCode);
            Assert.StartsWith("HTTP/1.1 200 OK", r.StdOut);
            Assert.Contains("Server: Kestrel", r.StdOut);
            Assert.EndsWith("\r\n\r\nhello from NetStack", r.StdOut);
            Assert.Contains($"Now listening on: http://{stack}:80", app.Output);
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
        }
    }

    [PeerFact]
    public void EchoServer_EchoesWhatNcSends()
    {
        var (ns, tap, _, stack) = NewBareNamespace();
        try
        {
            using var server = new BackgroundProcess("dotnet", [Sample("EchoServer"), ns, tap, stack], readyText: "echo server listening")
                .WaitReady(TimeSpan.FromSeconds(30));
            var r = Shell.Run("ip", ["netns", "exec", ns, "nc", "-N", "-w", "10", stack, "7"], TimeSpan.FromSeconds(30),
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

    [PeerFact]
    public void HttpClientGet_FetchesFromAKernelServer()
    {
        var (ns, tap, kernel, stack) = NewBareNamespace();
        string dir = Path.Combine(Path.GetTempPath(), $"{ns}-www");
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, "hello.txt"), "hello from the kernel\n");
            using var server = BackgroundProcess.InNamespace(ns, "Serving HTTP",
                "/usr/bin/python3", "-u", "-m", "http.server", "8080", "--bind", kernel, "--directory", dir).WaitReady();
            var r = Shell.Run("dotnet", [Sample("HttpClientGet"), $"http://{kernel}:8080/hello.txt", ns, tap, stack], TimeSpan.FromSeconds(60));
            output.WriteLine(r.ToString());
            Assert.Equal(0, r.ExitCode);
            Assert.Equal("hello from the kernel\n", r.StdOut);
            Assert.Equal("200 OK", r.StdErr.Trim());
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
            TcpPeerKit.TryDelete(dir);
        }
    }
}
