namespace NetStack.PeerTests;

/// <summary>
/// The kernel side of the receive-window fixtures of tests/NetStack.Tests/Tcp/Fixtures/RcvWnd:
/// scripts/rcvwnd_kernel.py, a fake host on a TAP in a namespace it creates, sends the fixture's
/// segments to a kernel listener with the fixture's SO_RCVBUF, and the kernel's answers must be the
/// fixture's transcript, which TcpReceiveWindowTests replays on the stack. A kernel that answers
/// otherwise (another version, other sysctls) shows here first, before the stack is blamed.
/// </summary>
public sealed class RcvWndKernelPeerTests(ITestOutputHelper output)
{
    private static string FixtureDir => Path.Combine(Shell.RepoRoot, "tests", "NetStack.Tests", "Tcp", "Fixtures", "RcvWnd");

    [PeerTheory]
    [InlineData("rcvbuf1_ws7_m.txt")]
    [InlineData("rcvbuf4096_wsnone_d.txt")]
    [InlineData("rcvbuf16384_wsnone_m.txt")]
    [InlineData("rcvbuf0_ws7_m.txt")]
    public void Kernel_AdvertisesTheFixtureWindows(string fixture)
    {
        var lines = File.ReadAllLines(Path.Combine(FixtureDir, fixture));
        var args = lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(2).ToArray(); // "# rcvwnd_kernel.py ARGS..."
        string rmem = string.Join(' ', lines[1].Split(' ').Skip(2));
        string machineRmem = string.Join(' ', File.ReadAllText("/proc/sys/net/ipv4/tcp_rmem").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries));
        Assert.True(rmem == machineRmem, $"the fixture was measured with tcp_rmem {rmem}, this machine has {machineRmem}");
        var r = Shell.Run("/usr/bin/python3", [TcpPeerKit.PeerScript.Replace("tcp_peer.py", "rcvwnd_kernel.py"), .. args], TimeSpan.FromSeconds(120));
        output.WriteLine(r.ToString());
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(string.Join('\n', lines.Skip(2)) + "\n", r.StdOut);
    }
}
