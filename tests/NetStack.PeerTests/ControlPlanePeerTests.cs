namespace NetStack.PeerTests;

/// <summary>
/// One running `netstack up` that other processes attach to through its control socket: the
/// repl's calls go to that stack (no second stack on the TAP), a second `up` under the same name
/// is refused, and the socket goes away with the stack.
/// </summary>
public sealed class ControlPlanePeerTests(ITestOutputHelper output)
{
    private static readonly string CliDll = Path.Combine(AppContext.BaseDirectory, "NetStack.Cli.dll");

    [PeerFact]
    public void Repl_AttachesToTheRunningUp_AndASecondUpIsRefused()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        var dir = Directory.CreateTempSubdirectory("nsctl-up-");
        string path = Path.Combine(dir.FullName, $"{ns}.sock");
        try
        {
            using (var up = new BackgroundProcess("dotnet",
                [CliDll, "up", "--ns", ns, "--tap", tap, "--create", "--addr", $"10.7.{x}.2/24", "--services", "echo",
                 "--name", ns, "--control", path, "--duration", "120"], readyText: "control socket:"))
            {
                up.WaitReady(TimeSpan.FromSeconds(60));
                Assert.True(File.Exists(path));

                // The repl relays each call to the running stack, on a descriptor table of its own.
                var repl = Shell.Run("dotnet", [CliDll, "repl", "--name", ns, "--control", path], TimeSpan.FromSeconds(60),
                    stdin: "{\"op\":\"socket\",\"domain\":\"AF_INET\",\"type\":\"SOCK_STREAM\",\"protocol\":0}\n" +
                           "{\"op\":\"bind\",\"fd\":3,\"addr\":\"0.0.0.0\",\"port\":7}\n" +
                           "{\"op\":\"sockets\"}\n");
                output.WriteLine(repl.ToString());
                Assert.Equal(0, repl.ExitCode);
                Assert.Contains($"attached to the running stack {ns}", repl.StdErr);
                var lines = repl.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                Assert.Equal("{\"ret\":3}", lines[0]);
                // Port 7 is taken by the running stack's echo service: proof the call reached that stack.
                Assert.Contains("EADDRINUSE", lines[1]);
                Assert.Contains("\"local\":\"0.0.0.0:7\"", lines[2]);   // the echo service's listener
                Assert.Contains("\"owner\":\"client 1\"", lines[2]);     // and the repl's own socket, in the same stack

                var second = Shell.Run("dotnet", [CliDll, "up", "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.2/24",
                    "--name", ns, "--control", path, "--duration", "1"], TimeSpan.FromSeconds(60));
                output.WriteLine(second.ToString());
                Assert.Equal(1, second.ExitCode);
                Assert.Contains("already running", second.StdErr);
                Assert.Single(second.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            }
            // The process was killed: a stale socket may remain; a new up would replace it.
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
            dir.Delete(recursive: true);
        }
    }
}
