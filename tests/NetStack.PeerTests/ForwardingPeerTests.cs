using System.Diagnostics;
using NetStack.Api;
using NetStack.Core;
using NetStack.Wire;
using Xunit.Abstractions;

namespace NetStack.PeerTests;

/// <summary>
/// The stack as a router between two Linux kernels: two network namespaces (made by setup-tap.sh,
/// names from <see cref="TapPeer.NewNames"/>), each with a TAP the one stack holds, the kernel at
/// 10.7.X.1 and the stack at 10.7.X.2 on each, net.ipv4.ip_forward = 1 on the stack, and in each
/// kernel a route to the other subnet via the stack. Dispose stops the stack and deletes both
/// namespaces, also when the constructor fails half way.
/// </summary>
public sealed class RouterPeers : IDisposable
{
    public string NsL { get; } = "";
    public string NsR { get; } = "";
    public string TapL { get; } = "";
    public string TapR { get; } = "";
    /// <summary>The kernels' and the stack's addresses on the left and right links.</summary>
    public string KernelL { get; } = "";
    public string KernelR { get; } = "";
    public string StackL { get; } = "";
    public string StackR { get; } = "";
    public NetStackHost Host { get; } = null!;
    public NetNamespace Net => Host.Net;

    public RouterPeers()
    {
        int xl, xr;
        (NsL, TapL, xl) = TapPeer.NewNames();
        (NsR, TapR, xr) = TapPeer.NewNames();
        (KernelL, StackL, KernelR, StackR) = ($"10.7.{xl}.1", $"10.7.{xl}.2", $"10.7.{xr}.1", $"10.7.{xr}.2");
        try
        {
            foreach (var (ns, tap, kernel) in new[] { (NsL, TapL, KernelL), (NsR, TapR, KernelR) })
            {
                Shell.Check("bash", Path.Combine(Shell.RepoRoot, "setup-tap.sh"), "--ns", ns, "--tap", tap, "--addr", $"{kernel}/24");
                Shell.Check("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1");
                Shell.Check("ip", "netns", "exec", ns, "sysctl", "-qw", $"net.ipv6.conf.{tap}.disable_ipv6=1");
            }
            var options = new StackOptions
            {
                Namespace = NsL,
                Tap = TapL,
                Address = System.Net.IPAddress.Parse(StackL),
                PrefixLen = 24,
                Gateway = null,
                Forwarding = true,
            };
            options.MoreInterfaces.Add(new StackInterface { Namespace = NsR, Tap = TapR, Address = System.Net.IPAddress.Parse(StackR), PrefixLen = 24 });
            Host = NetStackHost.Up(options);
            Shell.Check("ip", "-n", NsL, "route", "add", $"10.7.{xr}.0/24", "via", StackL);
            Shell.Check("ip", "-n", NsR, "route", "add", $"10.7.{xl}.0/24", "via", StackR);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public CommandResult ExecL(TimeSpan timeout, params string[] args) => Shell.Run("ip", ["netns", "exec", NsL, .. args], timeout);

    public void Dispose()
    {
        try { Host?.Dispose(); }
        finally
        {
            // Deleting a namespace destroys the TAP inside it.
            if (NsL.Length > 0) Shell.Run("ip", "netns", "del", NsL);
            if (NsR.Length > 0) Shell.Run("ip", "netns", "del", NsR);
        }
    }
}

public class ForwardingPeerTests(ITestOutputHelper output)
{
    [PeerFact]
    public void StackRoutesBetweenTwoKernels_Ping_Traceroute_AndA100MegabyteDownload()
    {
        using var r = new RouterPeers();
        var ip = r.Net.Mib.Ip;

        // Ping across: the kernel on the right answers with its TTL 64, one less through the stack.
        var ping = r.ExecL(TimeSpan.FromSeconds(20), "ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", r.KernelR);
        Assert.True(ping.ExitCode == 0, ping.ToString());
        Assert.Contains("3 received", ping.StdOut);
        Assert.Contains("ttl=63", ping.StdOut);
        Assert.True(ip[IpMib.ForwDatagrams] >= 6, $"ForwDatagrams {ip[IpMib.ForwDatagrams]}");

        // Record route (ping -R): the stack writes its outgoing address each way, as a Linux router does.
        var rr = r.ExecL(TimeSpan.FromSeconds(10), "ping", "-n", "-c", "1", "-R", "-W", "2", r.KernelR);
        output.WriteLine(rr.StdOut);
        var recorded = rr.StdOut[rr.StdOut.IndexOf("RR:", StringComparison.Ordinal)..].Replace("RR:", "").Split(['\t', '\n', ' '], StringSplitOptions.RemoveEmptyEntries).TakeWhile(w => w.Contains('.')).ToArray();
        Assert.Equal([r.KernelL, r.StackR, r.KernelR, r.KernelR, r.StackL, r.KernelL], recorded);

        // TTL 1: the stack says time exceeded, from its address on the sender's link.
        var ttl1 = r.ExecL(TimeSpan.FromSeconds(10), "ping", "-n", "-c", "1", "-t", "1", "-W", "2", r.KernelR);
        Assert.Contains($"From {r.StackL} icmp_seq=1 Time to live exceeded", ttl1.StdOut);
        Assert.Equal(1, ip[IpMib.InHdrErrors]);
        Assert.Equal(1, r.Net.Mib.Icmp[IcmpMib.OutTimeExcds]);

        // traceroute (UDP probes): hop 1 is the stack, hop 2 the kernel on the right.
        if (File.Exists("/usr/sbin/traceroute") || File.Exists("/usr/bin/traceroute"))
        {
            var tr = r.ExecL(TimeSpan.FromSeconds(20), "traceroute", "-n", "-q", "1", "-w", "2", "-m", "4", r.KernelR);
            output.WriteLine(tr.StdOut);
            var hops = tr.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToArray();
            Assert.True(hops.Length == 2, tr.ToString());
            Assert.Equal(["1", r.StackL], hops[0][..2]);
            Assert.Equal(["2", r.KernelR], hops[1][..2]);
        }
        else output.WriteLine("traceroute is not installed (scripts/test.sh installs it): skipped that part");

        // 100 MB from a kernel HTTP server on the right to curl on the left, through the stack.
        string dir = Path.Combine(Path.GetTempPath(), $"{r.NsR}-www");
        Directory.CreateDirectory(dir);
        try
        {
            const int size = 100 << 20;
            string hash = TcpPeerKit.WriteRandomFile(Path.Combine(dir, "f.bin"), size, seed: 12);
            using var server = BackgroundProcess.InNamespace(r.NsR, "Serving HTTP",
                "/usr/bin/python3", "-u", "-m", "http.server", "8080", "--bind", r.KernelR, "--directory", dir).WaitReady();
            long forwarded0 = ip[IpMib.ForwDatagrams];
            var sw = Stopwatch.StartNew();
            var get = r.ExecL(TimeSpan.FromSeconds(60), "sh", "-c", $"curl -sS --fail -o - http://{r.KernelR}:8080/f.bin | sha256sum");
            sw.Stop();
            Assert.True(get.ExitCode == 0, get.ToString());
            Assert.Equal(hash, get.StdOut.Split(' ')[0]);
            long forwarded = ip[IpMib.ForwDatagrams] - forwarded0;
            output.WriteLine($"100 MiB through the stack in {sw.Elapsed.TotalSeconds:0.00} s ({size * 8.0 / sw.Elapsed.TotalSeconds / 1e9:0.00} Gbit/s), {forwarded} packets forwarded");
            Assert.True(forwarded > size / 1500, $"only {forwarded} packets forwarded");
        }
        finally
        {
            TcpPeerKit.TryDelete(dir);
        }
        Assert.Equal(0, ip[IpMib.InAddrErrors]);
        Assert.Equal(0, ip[IpMib.InDelivers] - r.Net.Mib.Icmp[IcmpMib.InMsgs]); // nothing for the stack itself but ICMP
    }
}
