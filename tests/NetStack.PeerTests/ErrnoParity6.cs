using NetStack.Ipv6;
using System.Net;
using NetStack.Uapi;
using NetStack.Api;
using NetStack.Net;

namespace NetStack.PeerTests;

/// <summary>
/// The IPv6 side of the parity fixture: IPv6 on in both namespaces (the kernel's and the
/// stack's), a global address on each (fd00:81::1 the kernel's, fd00:81::2 the stack's, both
/// without DAD so they are usable at once and every row starts alike), and on each side an echo
/// peer for the other side's rows (TCP and UDP, dual-stack [::], port <see cref="EchoPort"/>):
/// scripts/echo6_peer.py in the kernel's namespace, sockets of a descriptor table of their own
/// (another process, as it were) on the stack.
/// </summary>
public partial class ErrnoParityFixture
{
    /// <summary>The echo peers' port (TCP and UDP), the last of the IPv6 rows' range 8100-8199.</summary>
    public const int EchoPort = 8199;
    private const string KernelGlobal = "fd00:81::1", StackGlobal = "fd00:81::2", Unassigned = "fd00:81::77";

    /// <summary>The TAP's interface index, written "$IFX" (quoted, so that a step parses as JSON) and replaced by a number.</summary>
    internal const string IfxSymbol = "\"$IFX\"";

    private BackgroundProcess? _echo;
    private CancellationTokenSource? _echoStop;
    private readonly List<NetSocket> _echoSockets = [];
    private string _kernelLinkLocal = "", _stackLinkLocal = "";
    private int _kernelIfindex, _stackIfindex;

    private void StartIpv6(TapPeer p)
    {
        // Both sides answer every row's port unreachable, however many in a row (icmpv6_xrlim_allow).
        p.Exec("sysctl", "-qw", "net.ipv6.icmp.ratelimit=0");
        lock (p.Net.SyncRoot) p.Net.Ipv6.Sysctl.IcmpRatelimitMs = 0;
        Shell.Check("ip", "netns", "exec", p.Ns, "ip", "-6", "addr", "add", KernelGlobal + "/64", "dev", p.Tap, "nodad");
        NetStackConfig.AddAddress(p.Net, p.Host.Device.Name, IPAddress.Parse(StackGlobal), 64, noDad: true);

        var link = p.Exec("ip", "-o", "link", "show", "dev", p.Tap).StdOut;
        _kernelIfindex = int.Parse(link[..link.IndexOf(':')]);
        var ll = p.Exec("ip", "-6", "-o", "addr", "show", "dev", p.Tap, "scope", "link").StdOut;
        int at = ll.IndexOf("fe80:", StringComparison.Ordinal);
        _kernelLinkLocal = ll[at..ll.IndexOf('/', at)];
        _stackIfindex = p.Host.Device.IfIndex;
        lock (p.Net.SyncRoot)
            _stackLinkLocal = NetStack.Ipv6.Addrconf.In6DevGet(p.Net, p.Host.Device)!.AddrList
                .Select(a => NetStack.Wire.Ipv6Address.Format(a.Addr)).First(a => a.StartsWith("fe80:", StringComparison.Ordinal));

        _echo = BackgroundProcess.InNamespace(p.Ns, "ready", "/usr/bin/python3", "-u",
            Path.Combine(AppContext.BaseDirectory, "scripts", "echo6_peer.py"), EchoPort.ToString()).WaitReady();
        StartStackEcho(p);
    }

    /// <summary>The stack's echo peer: a TCP echo (each connection echoed to its end of file, then closed) and a UDP echo.</summary>
    private void StartStackEcho(TapPeer p)
    {
        _echoStop = new CancellationTokenSource();
        var stop = _echoStop.Token;
        var files = new FdTable(p.Net);
        var tcp = new NetSocket(files, SocketConstants.AF_INET6, SocketConstants.SOCK_STREAM);
        var udp = new NetSocket(files, SocketConstants.AF_INET6, SocketConstants.SOCK_DGRAM);
        _echoSockets.Add(tcp);
        _echoSockets.Add(udp);
        tcp.Bind(new IPEndPoint(IPAddress.IPv6Any, EchoPort));
        tcp.Listen(64);
        udp.Bind(new IPEndPoint(IPAddress.IPv6Any, EchoPort));
        _ = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var c = await tcp.AcceptAsync(stop);
                _ = Task.Run(async () =>
                {
                    using (c)
                    {
                        var buf = new byte[65536];
                        int n;
                        while ((n = await c.ReceiveAsync(buf, stop)) > 0)
                            for (int sent = 0; sent < n;) sent += await c.SendAsync(buf.AsMemory(sent, n - sent), stop);
                    }
                }, stop);
            }
        }, stop);
        _ = Task.Run(async () =>
        {
            var buf = new byte[65536];
            while (!stop.IsCancellationRequested)
            {
                var r = await udp.ReceiveFromAsync(buf, stop);
                await udp.SendToAsync(buf.AsMemory(0, r.ReceivedBytes), r.RemoteEndPoint, stop);
            }
        }, stop);
    }

    private void AddIpv6Symbols(Dictionary<string, string> sym, bool linux)
    {
        sym["$V6SELF"] = linux ? KernelGlobal : StackGlobal;
        sym["$V6PEER"] = linux ? StackGlobal : KernelGlobal;
        // On the link, owned by nobody: neighbour discovery fails.
        sym["$V6OTHER"] = Unassigned;
        sym["$LLSELF"] = linux ? _kernelLinkLocal : _stackLinkLocal;
        sym["$LLPEER"] = linux ? _stackLinkLocal : _kernelLinkLocal;
        // The TAP's interface index on this side (a link-local address's scope id).
        sym[IfxSymbol] = (linux ? _kernelIfindex : _stackIfindex).ToString();
    }

    private void StopIpv6()
    {
        _echoStop?.Cancel();
        foreach (var s in _echoSockets) s.Dispose();
        _echo?.Dispose();
    }
}

/// <summary>The parity fixture with IPv6 on on both sides (<see cref="ErrnoParityFixture.StartIpv6"/>).</summary>
public sealed class ErrnoParity6Fixture() : ErrnoParityFixture(ipv6: true);

/// <summary>The IPv6 parity rows' collection: a fixture (namespace, TAP and stack) of their own.</summary>
[CollectionDefinition(ErrnoParity6Collection.Name)]
public sealed class ErrnoParity6Collection : ICollectionFixture<ErrnoParity6Fixture>
{
    public const string Name = "errno parity ipv6";
}

/// <summary>
/// The errno parity rows over real IPv6 traffic (<see cref="ErrnoParityTable.Inet6LiveRows"/>):
/// each runs on the Linux kernel and on the stack and must answer alike, step by step.
/// </summary>
[Collection(ErrnoParity6Collection.Name)]
public sealed class ErrnoParity6Tests(ErrnoParity6Fixture fx, ITestOutputHelper output)
{
    [PeerTheory]
    [MemberData(nameof(ErrnoParityTable.Inet6LiveNames), MemberType = typeof(ErrnoParityTable))]
    public void Row(string name) =>
        ErrnoParityTests.Compare(fx, output, ErrnoParityTable.Inet6LiveRows.First(r => r.Name == name), fx.RunStack);
}
