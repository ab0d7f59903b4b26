using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// The IPv4 family. <remarks>Mirrors net/ipv4/af_inet.c.</remarks>
/// </summary>
public static partial class AfInet
{
    /// <summary>
    /// The IPv4 layer's initcall: registers the per-namespace operations of IPv4 and its protocols,
    /// in inet_init()'s order, so that every <see cref="NetNamespace"/> sets them up (setup_net())
    /// without Core naming this layer.
    /// <para>
    /// Why a module initializer: it is the C# form of a built-in initcall. It runs once, when the
    /// stack's assembly is loaded, before any code of the assembly (so before the first namespace
    /// exists), and needs no bootstrap call from users or tests. Each layer has one, and the order
    /// between layers is made explicit rather than left to the order the runtime runs them in:
    /// this one first calls the socket layer's sock_init (a core_initcall in Linux, before
    /// inet_init's fs_initcall), and devices (loopback) register as pernet devices, which
    /// setup_net() runs after every subsystem.
    /// </para>
    /// </summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: fs_initcall(inet_init).</remarks>
#pragma warning disable CA2255 // The initcall of a layer: see above.
    [System.Runtime.CompilerServices.ModuleInitializer]
#pragma warning restore CA2255
    internal static void InetInit()
    {
        Net.SocketCalls.SockInit();
        NetNamespace.RegisterPernetSubsys(InetNetOps.Instance);   // inet_init_net + the tables of struct netns_ipv4
        NetNamespace.RegisterPernetSubsys(Arp.ArpNetOps.Instance);  // arp_init()
        NetNamespace.RegisterPernetSubsys(Icmp.IcmpSkOps.Instance); // icmp_init()
        NetNamespace.RegisterPernetSubsys(Igmp.IgmpNetOps.Instance); // igmp_protocol
        NetNamespace.RegisterPernetSubsys(Udp.UdpNetOps.Instance);  // udp_init() / udplite
        NetNamespace.RegisterPernetSubsys(TcpIpv4.TcpSkOps.Instance); // tcp_v4_init()
        NetNamespace.RegisterPernetSubsys(TcpTracepoint.TcpTraceNetOps.Instance); // the TCP trace points (per namespace here)
        NetNamespace.RegisterPernetSubsys(Ping.PingNetOps.Instance); // ping_init()
        NetNamespace.RegisterPernetSubsys(Raw.RawNetOps.Instance);   // raw_init()
    }

    /// <summary>
    /// Sets sk_state outside tcp_set_state() (listen(), a listener's child), announcing the change to
    /// the trace points as the kernel's inet_sk_set_state() / inet_sk_state_store() do.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_sk_set_state() (trace_inet_sock_set_state(), then the store).</remarks>
    internal static void InetSkSetState(Sock sk, TcpState state)
    {
        var old = sk.State;
        sk.State = state;
        if (sk is TcpSock tp) TcpTracepoint.TraceInetSockSetState(tp, old);
    }

    /// <summary>
    /// The per-namespace part of inet_init(): allocates struct netns_ipv4, registers the family with
    /// the socket layer, the IP packet type and the inetsw table, and listens for devices coming up.
    /// </summary>
    /// <remarks>Mirrors inet_init() and inet_init_net() (af_inet_ops).</remarks>
    internal sealed class InetNetOps : PernetOperations
    {
        public static readonly InetNetOps Instance = new();

        private InetNetOps() { }

        public override string Name => "inet";

        public override void Init(NetNamespace net)
        {
            net.NetAssignGeneric(Id, new NetnsIpv4(net));
            SysctlNetIpv4.Ipv4SysctlInitNet(net);
            Devinet.DevinetInitNet(net);
            // Tell SOCKET that we are alive...
            Net.SocketCalls.SockRegister(net, InetFamilyOps.Instance);
            net.DevAddPack(new PacketType(EthP.IP, IpInput.IpRcv, "ip_packet_type"));
            // Register the socket-side information for inet_create.
            foreach (var q in InetProtosw.InetswArray) InetRegisterProtosw(net, q);
            net.RegisterNetdeviceNotifier(InetdevNotifier.Instance);
            // Ip: Forwarding is 2 ("not forwarding", RFC 1213) on a host; DefaultTTL is the sysctl.
            net.Mib.Ip[IpMib.Forwarding] = net.Ipv4.Sysctl.IpForward ? 1 : 2;
            net.Mib.Ip[IpMib.DefaultTTL] = net.Ipv4.Sysctl.IpDefaultTtl;
        }
    }

    /// <summary>
    /// Device events for IPv4: the loopback device gets 127.0.0.1/8 when it first comes up; a device
    /// coming back up gets its addresses' connected routes again and announces its addresses; a device
    /// going down loses every route through it and its neighbours (its addresses stay).
    /// </summary>
    /// <remarks>Mirrors net/ipv4/devinet.c: inetdev_event(), net/ipv4/fib_frontend.c: fib_netdev_event()
    /// (fib_add_ifaddr() on NETDEV_UP, fib_disable_ip() on NETDEV_DOWN) and net/ipv4/arp.c: arp_netdev_event() (neigh_ifdown()).</remarks>
    private sealed class InetdevNotifier : NetdevNotifier
    {
        public static readonly InetdevNotifier Instance = new();

        public override void NotifierCall(NetdevEvent ev, NetDevice dev)
        {
            if (dev.Net is not { } net) return;
            if (ev == NetdevEvent.Up)
            {
                Devinet.InetdevInit(net, dev);
                if (dev.IsLoopback && dev.Ipv4Address == 0)
                    InetAddress.InetInsertIfa(net, dev, Ipv4Address.Loopback, 8);
                else
                    InetAddress.FibAddIfaddrs(net, dev);
                Igmp.IpMcUp(net, dev);
            }
            else if (ev == NetdevEvent.Down)
            {
                Igmp.IpMcDown(net, dev);
                net.Ipv4.Fib.Flush(e => e.Dev == dev);
                net.Ipv4.Arp.NeighIfdown(dev);
            }
        }
    }
}
