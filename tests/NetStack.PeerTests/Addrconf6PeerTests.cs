using System.Globalization;
using System.Net;
using NetStack.Ipv6;
using NetStack.Wire;

namespace NetStack.PeerTests;

/// <summary>
/// IPv6 address configuration against the Linux kernel on the other side of a TAP: duplicate
/// address detection finds the address the kernel holds, the kernel's capture shows the stack's
/// MLDv2 reports (on join and answering a query scapy sends), and a router advertisement scapy
/// sends gives the stack a SLAAC address the kernel pings.
/// </summary>
public sealed class Addrconf6PeerTests(ITestOutputHelper output)
{
    private static TapPeer Peer()
    {
        var peer = new TapPeer(ipv6: true);
        try
        {
            Assert.True(TapPeer.WaitUntil(() => KernelLinkLocal(peer) is not null, TimeSpan.FromSeconds(5)), "the kernel made no link-local address on the TAP");
            return peer;
        }
        catch
        {
            peer.Dispose();
            throw;
        }
    }

    private static string? KernelLinkLocal(TapPeer peer)
    {
        var o = peer.Exec("ip", "-6", "-o", "addr", "show", "dev", peer.Tap, "scope", "link").StdOut;
        int i = o.IndexOf("inet6 fe80::", StringComparison.Ordinal);
        return i < 0 ? null : o[(i + 6)..].Split('/')[0];
    }

    private static string KernelMac(TapPeer peer) => peer.Exec("cat", $"/sys/class/net/{peer.Tap}/address").StdOut.Trim();

    /// <summary>Sends one frame scapy builds from <paramref name="packet"/> (a Python expression) out of the kernel's end of the TAP.</summary>
    private void Scapy(TapPeer peer, string packet)
    {
        var script = "from scapy.all import *\nfrom scapy.layers.inet6 import *\n"
            + $"sendp({packet}, iface='{peer.Tap}', verbose=False)\n";
        var r = peer.Exec(TimeSpan.FromSeconds(60), "/usr/bin/python3", "-c", script);
        output.WriteLine($"scapy: exit {r.ExitCode} {r.StdErr}");
        Assert.Equal(0, r.ExitCode);
    }

    private static IfaFlags? Flags(TapPeer peer, UInt128 addr)
    {
        lock (peer.Net.SyncRoot)
            return Addrconf.In6DevGet(peer.Net, peer.Host.Device) is { } idev && Addrconf.Ipv6GetIfaddr(idev, addr) is { } ifp ? ifp.Flags : null;
    }

    private long Icmp6(TapPeer peer, Icmp6Mib m) => peer.Net.Ipv6.Icmp6Stats[m];

    private void AssertNoProblems(string pcap)
    {
        var problems = Tshark.Frames(pcap, Tshark.ProblemFilter + " || icmpv6.checksum.status == \"Bad\"");
        foreach (var p in problems) output.WriteLine(p);
        Assert.Empty(problems);
    }

    [PeerFact]
    public void Dad_KernelHoldsTheAddress_StackDetectsTheDuplicate_AndNeverUsesIt()
    {
        using var peer = Peer();
        const string dup = "fd00:8::2";
        peer.Exec("ip", "-6", "addr", "add", $"{dup}/64", "dev", peer.Tap, "nodad");
        peer.Exec("ip", "-6", "addr", "add", "fd00:8::1/64", "dev", peer.Tap, "nodad");
        var addr = Ipv6Address.Parse(dup);
        peer.Net.AddIpv6Address(peer.Host.Device, IPAddress.Parse(dup), 64);
        Assert.True(TapPeer.WaitUntil(() => Flags(peer, addr) is { } f && (f & IfaFlags.Dadfailed) != 0, TimeSpan.FromSeconds(10)),
            $"DAD did not fail: {Flags(peer, addr)}");
        Assert.Equal(IfaFlags.Permanent | IfaFlags.Tentative | IfaFlags.Dadfailed, Flags(peer, addr));
        string kernelMac = KernelMac(peer);
        var log = peer.Net.Log.Read();
        foreach (var l in log) output.WriteLine(l);
        Assert.Contains(log, l => l.Contains($"{peer.Tap}: IPv6 duplicate address {dup} used by {kernelMac} detected!", StringComparison.Ordinal));
        lock (peer.Net.SyncRoot)
        {
            Assert.False(Addrconf.Ipv6ChkAddr(peer.Net, addr, peer.Host.Device));
            Assert.True(Addrconf.Ipv6DevGetSaddr(peer.Net, peer.Host.Device, Ipv6Address.Parse("fd00:8::1"), out var src));
            Assert.NotEqual(addr, src);
        }
        // The stack never claimed it: the kernel learned no neighbour for its own address, and its probes to it stay unanswered.
        Thread.Sleep(1500);
        Assert.DoesNotContain(peer.StackMac.ToString(), peer.Exec("ip", "-6", "neigh", "show", "dev", peer.Tap).StdOut);
        peer.FlushCapture();
        string mac = peer.StackMac.ToString();
        Assert.Equal(1, Tshark.Count(peer.PcapPath,
            $"eth.src == {mac} && ipv6.src == :: && icmpv6.type == 135 && icmpv6.nd.ns.target_address == {dup} && icmpv6.opt.nonce && ipv6.hlim == 255"));
        Assert.True(Tshark.Count(peer.PcapPath, $"eth.src == {kernelMac} && icmpv6.type == 136 && icmpv6.nd.na.target_address == {dup}") >= 1);
        Assert.Equal(0, Tshark.Count(peer.PcapPath, $"eth.src == {mac} && icmpv6.type == 136 && icmpv6.nd.na.target_address == {dup}"));
        AssertNoProblems(peer.PcapPath);
    }

    [PeerFact]
    public void Mld_KernelSeesTheStacksReports_OnJoin_AndAnsweringAQuery()
    {
        using var peer = Peer();
        string kernelPcap = Path.Combine(Path.GetTempPath(), $"{peer.Ns}-kernel-mld.pcap");
        var dump = BackgroundProcess.InNamespace(peer.Ns, "listening on", "tcpdump", "-n", "-i", peer.Tap, "-U", "-w", kernelPcap, "ip6").WaitReady();
        const string group = "ff02::1:ff00:2"; // the solicited-node group of fd00:8::2
        string mac = peer.StackMac.ToString();
        string report = $"eth.src == {mac} && icmpv6.type == 143 && ipv6.dst == ff02::16 && ipv6.hlim == 1 && ipv6.opt.router_alert == 0 && icmpv6.checksum.status == \"Good\"";
        // The answer to the general query: IS_EX for each group the stack listens to (its link-local and fd00:8::2's solicited-node groups).
        string sll = Ipv6Address.Format(Ipv6Address.SolicitedNode(Ipv6Address.LinkLocal(peer.StackMac)));
        string answer = $"{report} && icmpv6.mldr.mar.record_type == 2 && icmpv6.mldr.mar.multicast_address == {group}"
            + $" && icmpv6.mldr.mar.multicast_address == {sll} && icmpv6.mldr.nb_mcast_records == 2";
        try
        {
            try
            {
                long before = Icmp6(peer, Icmp6Mib.Icmp6OutMLDv2Reports);
                peer.Net.AddIpv6Address(peer.Host.Device, IPAddress.Parse("fd00:8::2"), 64);
                // mld_ifc_event(): robustness variable (2) state-change reports, within unsolicited_report_interval (1 s).
                Assert.True(TapPeer.WaitUntil(() => Icmp6(peer, Icmp6Mib.Icmp6OutMLDv2Reports) >= before + 2, TimeSpan.FromSeconds(5)));
                Thread.Sleep(1500);
                Assert.Equal(0, Tshark.Count(kernelPcap, answer)); // nothing has asked for the current state yet
                string kll = KernelLinkLocal(peer)!, kmac = KernelMac(peer);
                Scapy(peer, $"Ether(src='{kmac}', dst='33:33:00:00:00:01')/IPv6(src='{kll}', dst='ff02::1', hlim=1)"
                    + "/IPv6ExtHdrHopByHop(options=[RouterAlert(value=0)])/ICMPv6MLQuery2(mrd=1000, QRV=2)");
                Assert.True(TapPeer.WaitUntil(() => Icmp6(peer, Icmp6Mib.Icmp6InGroupMembQueries) == 1, TimeSpan.FromSeconds(5)));
                // Within the maximum response delay (1 s), as the kernel's capture (written packet by packet) shows.
                Assert.True(TapPeer.WaitUntil(() => Tshark.Count(kernelPcap, answer) == 1, TimeSpan.FromSeconds(10)), "no report answered the general query");
            }
            finally
            {
                Shell.Run("kill", ["-INT", dump.Pid.ToString(CultureInfo.InvariantCulture)]);
                dump.WaitForExit(TimeSpan.FromSeconds(10));
                dump.Dispose();
            }
            var joins = Tshark.Frames(kernelPcap, $"{report} && icmpv6.mldr.mar.record_type == 4 && icmpv6.mldr.mar.multicast_address == {group}");
            foreach (var f in joins) output.WriteLine(f);
            Assert.True(joins.Length >= 2, $"{joins.Length} TO_EX reports for {group} in the kernel's capture");
            Assert.Equal(1, Tshark.Count(kernelPcap, answer));
            AssertNoProblems(kernelPcap);
        }
        finally
        {
            File.Delete(kernelPcap);
        }
    }

    [PeerFact]
    public void RouterAdvertisement_GivesASlaacAddress_TheKernelPings()
    {
        using var peer = Peer();
        peer.Exec("ip", "-6", "addr", "add", "fd00:9::1/64", "dev", peer.Tap, "nodad");
        string kll = KernelLinkLocal(peer)!, kmac = KernelMac(peer);
        var slaac = Ipv6Address.Parse("fd00:9::") | Ipv6Address.Eui64(peer.StackMac);
        string slaacText = Ipv6Address.Format(slaac);
        Scapy(peer, $"Ether(src='{kmac}', dst='33:33:00:00:00:01')/IPv6(src='{kll}', dst='ff02::1', hlim=255)/ICMPv6ND_RA(routerlifetime=1800)"
            + $"/ICMPv6NDOptSrcLLAddr(lladdr='{kmac}')/ICMPv6NDOptPrefixInfo(prefix='fd00:9::', prefixlen=64, L=1, A=1, validlifetime=3600, preferredlifetime=1800)"
            + "/ICMPv6NDOptMTU(mtu=1480)");
        Assert.True(TapPeer.WaitUntil(() => Flags(peer, slaac) == IfaFlags.None, TimeSpan.FromSeconds(10)), $"{slaacText}: {Flags(peer, slaac)}");
        var routes = peer.Net.Ipv6.Fib6.Format();
        output.WriteLine(routes);
        Assert.Contains($"default via {kll} dev {peer.Tap} proto ra metric 1024", routes);
        Assert.Contains($"fd00:9::/64 dev {peer.Tap} proto kernel metric 256", routes);
        Assert.Equal(1480, Addrconf.Ip6DevMtu(peer.Net, peer.Host.Device));
        var r = peer.Exec(TimeSpan.FromSeconds(60), "ping", "-6", "-n", "-c", "5", "-i", "0.05", "-W", "2", slaacText);
        var s = PingSummary.Parse(r.StdOut);
        output.WriteLine($"ping -6 {slaacText}: {s.Transmitted} transmitted, {s.Received} received; {s.RttLine}");
        Assert.Equal(5, s.Received);
        peer.FlushCapture();
        string mac = peer.StackMac.ToString();
        Assert.Equal(1, Tshark.Count(peer.PcapPath, $"eth.src == {mac} && ipv6.src == :: && icmpv6.type == 135 && icmpv6.nd.ns.target_address == {slaacText}"));
        Assert.Equal(5, Tshark.Count(peer.PcapPath, $"eth.src == {mac} && icmpv6.type == 129 && ipv6.src == {slaacText}"));
        AssertNoProblems(peer.PcapPath);
    }
}
