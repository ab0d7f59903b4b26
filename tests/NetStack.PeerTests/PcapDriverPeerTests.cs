using System.Globalization;
using System.Net;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Pcap;
using NetStack.Services;
using NetStack.Wire;

namespace NetStack.PeerTests;

/// <summary>
/// The second driver: the stack on a veth end through libpcap (SharpPcap), the kernel on the other
/// end. Both ends live in namespaces the test creates (the kernel's with its address, the wire's
/// with the bare veth end the stack takes) and deletes afterwards.
/// </summary>
public sealed class PcapDriverPeerTests(ITestOutputHelper output)
{
    [PeerFact]
    public void VethEnd_KernelPingsTheStack_AndCurlDownloads100MB()
    {
        var (kernelNs, _, x) = TapPeer.NewNames();
        var (wireNs, _, _) = TapPeer.NewNames();
        string vk = $"vk{x}", vs = $"vs{x}", kernelIp = $"10.7.{x}.1", stackIp = $"10.7.{x}.2";
        string file = Path.Combine(Path.GetTempPath(), $"{kernelNs}-pcap.bin");
        try
        {
            MakeVethPair(kernelNs, wireNs, vk, vs, kernelIp);

            using var net = new NetNamespace("pcap");
            var dev = PcapDevice.Attach(vs, MacAddress.Parse("02:00:0a:07:00:02"), wireNs); // the namespace disposes its devices
            net.AddDevice(dev, IPAddress.Parse(stackIp), 24);
            // This driver hands the stack the kernel's ACKs late and in bursts (about 70 a second: the
            // performance issue's business), so the RTT samples of slow start grow by more than HyStart's
            // 4 ms delay threshold and CUBIC leaves slow start at a window of about 16 segments, as Linux's
            // HyStart would on such a path; 100 MB then takes minutes. This test is about the driver
            // carrying the bytes intact, so it runs CUBIC without HyStart (hystart=0, Linux's module parameter).
            Assert.Equal(0, net.Sysctl.TrySet("sys.module.tcp_cubic.parameters.hystart", "0"));
            net.Start();
            using var services = ServiceHost.Start(net, "http");

            var ping = Shell.Run("ip", ["netns", "exec", kernelNs, "ping", "-c", "3", "-i", "0.2", "-W", "2", stackIp], TimeSpan.FromSeconds(30));
            output.WriteLine(ping.ToString());
            Assert.Equal(3, PingSummary.Parse(ping.StdOut).Received);

            const long size = 100L << 20;
            var r = Shell.Run("ip", ["netns", "exec", kernelNs, "curl", "-sS", "--fail", "-m", "120", "-o", file,
                "-w", "%{size_download} %{speed_download}", $"http://{stackIp}/bytes/{size}"], TimeSpan.FromSeconds(150));
            output.WriteLine(r.ToString());
            Assert.Equal(0, r.ExitCode);
            Assert.Equal(size, long.Parse(r.StdOut.Split(' ')[0], CultureInfo.InvariantCulture));
            Assert.Equal(BytesPattern.Sha256Hex(size), TcpPeerKit.Sha256OfFile(file));
            output.WriteLine(FormattableString.Invariant(
                $"curl over the pcap driver: {double.Parse(r.StdOut.Split(' ')[1], CultureInfo.InvariantCulture) / 1e6:0.0} MB/s; {dev.Name}: {dev.Stats}"));
        }
        finally
        {
            Shell.Run("ip", "netns", "del", kernelNs);
            Shell.Run("ip", "netns", "del", wireNs);
            TcpPeerKit.TryDelete(file);
        }
    }

    /// <summary>A veth pair: <paramref name="vk"/> with the kernel's address in <paramref name="kernelNs"/>, the bare <paramref name="vs"/> for the stack in <paramref name="wireNs"/>.</summary>
    private static void MakeVethPair(string kernelNs, string wireNs, string vk, string vs, string kernelIp)
    {
        Shell.Check("ip", "netns", "add", kernelNs);
        Shell.Check("ip", "netns", "add", wireNs);
        Shell.Check("ip", "link", "add", vk, "netns", kernelNs, "type", "veth", "peer", "name", vs, "netns", wireNs);
        foreach (var (ns, ifname) in new[] { (kernelNs, vk), (wireNs, vs) })
        {
            // No IPv6 chatter: every frame is one the test caused.
            Shell.Check("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1");
            Shell.Check("ip", "netns", "exec", ns, "sysctl", "-qw", $"net.ipv6.conf.{ifname}.disable_ipv6=1");
            Shell.Check("ip", "-n", ns, "link", "set", "lo", "up");
            Shell.Check("ip", "-n", ns, "link", "set", ifname, "up");
        }
        Shell.Check("ip", "-n", kernelNs, "addr", "add", $"{kernelIp}/24", "dev", vk);
        // A veth hands its peer segments with checksums left to offload (and super-frames from
        // TSO/GSO); a packet socket sees them as they are. The kernel's end computes and segments
        // them itself, as a NIC would: PcapDevice's documented requirement.
        Shell.Check("ip", "netns", "exec", kernelNs, "ethtool", "-K", vk, "tx", "off", "tso", "off", "gso", "off", "gro", "off");
        Shell.Check("ip", "netns", "exec", wireNs, "ethtool", "-K", vs, "gro", "off");

    }

    [PeerFact]
    public void Up_DriverPcap_OnAVethEnd_AnswersPingAndCurl()
    {
        var (kernelNs, _, x) = TapPeer.NewNames();
        var (wireNs, _, _) = TapPeer.NewNames();
        string vk = $"vk{x}", vs = $"vs{x}", kernelIp = $"10.7.{x}.1", stackIp = $"10.7.{x}.2";
        var dir = Directory.CreateTempSubdirectory("nsctl-pcapup-");
        string file = Path.Combine(dir.FullName, "down.bin");
        try
        {
            MakeVethPair(kernelNs, wireNs, vk, vs, kernelIp);
            using var up = new BackgroundProcess("dotnet",
                [Path.Combine(AppContext.BaseDirectory, "NetStack.Cli.dll"), "up", "--driver", "pcap", "--iface", vs, "--ns", wireNs,
                 "--addr", $"{stackIp}/24", "--gw", "none", "--services", "http", "--name", wireNs,
                 "--control", Path.Combine(dir.FullName, "c.sock"), "--duration", "120"], readyText: "control socket:");
            up.WaitReady(TimeSpan.FromSeconds(60));
            var ping = Shell.Run("ip", ["netns", "exec", kernelNs, "ping", "-c", "3", "-i", "0.2", "-W", "2", stackIp], TimeSpan.FromSeconds(30));
            output.WriteLine(ping.ToString());
            Assert.Equal(3, PingSummary.Parse(ping.StdOut).Received);
            const long size = 1 << 20;
            var r = Shell.Run("ip", ["netns", "exec", kernelNs, "curl", "-sS", "--fail", "-m", "60", "-o", file, $"http://{stackIp}/bytes/{size}"], TimeSpan.FromSeconds(90));
            output.WriteLine(r.ToString());
            output.WriteLine(up.Output);
            Assert.Equal(0, r.ExitCode);
            Assert.Equal(BytesPattern.Sha256Hex(size), TcpPeerKit.Sha256OfFile(file));
            Assert.Contains($"on {vs} in netns {wireNs}", up.Output);
        }
        finally
        {
            Shell.Run("ip", "netns", "del", kernelNs);
            Shell.Run("ip", "netns", "del", wireNs);
            dir.Delete(recursive: true);
        }
    }
}
