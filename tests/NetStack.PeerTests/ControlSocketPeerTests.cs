using System.Diagnostics;
using NetStack.Control;
using NetStack.Core;

namespace NetStack.PeerTests;

/// <summary>The control socket's SO_PEERCRED check, with a second user (needs root to become nobody).</summary>
public sealed class ControlSocketPeerTests
{
    [PeerFact]
    public void NonOwner_GetsOneRefusalLine_AndNothingElse()
    {
        if (!OperatingSystem.IsLinux()) return;
        var dir = Directory.CreateTempSubdirectory("nsctl-peer-");
        try
        {
            // nobody must reach the file to be refused by the server rather than by the file system.
            File.SetUnixFileMode(dir.FullName, (UnixFileMode)0b111_101_101);
            using var net = new NetNamespace("x");
            net.Start();
            string path = Path.Combine(dir.FullName, "t.sock");
            using var server = new ControlServer(net, "t", path);
            server.Start();
            File.SetUnixFileMode(path, (UnixFileMode)0b110_110_110); // 0666: only SO_PEERCRED stands in the way
            const string script =
                "import socket, sys\n" +
                "s = socket.socket(socket.AF_UNIX)\n" +
                "s.connect(sys.argv[1])\n" +
                "try:\n    s.sendall(b'{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}\\n')\nexcept OSError:\n    pass\n" +
                "data = b''\n" +
                // The server closes without reading: a recv after the line may see ECONNRESET.
                "while True:\n    try:\n        b = s.recv(4096)\n    except OSError:\n        break\n    if not b: break\n    data += b\n" +
                "sys.stdout.write(data.decode())\n";
            var psi = new ProcessStartInfo("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", script, path])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd();
            string err = p.StandardError.ReadToEnd();
            Assert.True(p.WaitForExit(10000), "the client did not finish");
            Assert.Equal(0, p.ExitCode);
            var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(lines.Length == 1, $"expected exactly the refusal line, got: {output} {err}");
            Assert.StartsWith("{\"error\":\"permission denied: uid 65534", lines[0]);
            Assert.Equal(0, server.ClientCount);
            // The owner (root here) still gets in.
            using var c = ControlClient.Connect(path);
            Assert.Equal(3, (int)c.Request(new System.Text.Json.Nodes.JsonObject { ["op"] = "socket", ["type"] = "SOCK_DGRAM" })["ret"]!);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
