using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Wire;

namespace NetStack.Ipv6;

/// <summary>
/// The IPv6 family's socket side. <remarks>Mirrors net/ipv6/af_inet6.c.</remarks>
/// </summary>
public static partial class AfInet6
{
    /// <summary>
    /// The socket half of inet6_init(): registers the per-namespace operations that give each
    /// namespace PF_INET6 in net_families[], inetsw6[] and net.ipv6.bindv6only. The IPv6 network
    /// layer (ipv6_rcv, ndisc, addrconf, routes) registers its own operations; it reaches these
    /// sockets through the lookups, and they reach it through <see cref="Ip6DstLookupFlow"/> and
    /// <see cref="Ipv6ChkAddr"/>.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/af_inet6.c: module_init(inet6_init) (sock_register(&amp;inet6_family_ops),
    /// the inet6_register_protosw() calls of rawv6_init, pingv6_init, udpv6_init, tcpv6_init).</remarks>
#pragma warning disable CA2255 // The initcall of a layer (see AfInet.InetInit).
    [System.Runtime.CompilerServices.ModuleInitializer]
#pragma warning restore CA2255
    internal static void Inet6Init()
    {
        Net.SocketCalls.SockInit();
        NetNamespace.RegisterPernetSubsys(Inet6NetOps.Instance);
    }

    /// <summary>The output route of a native IPv6 destination, through this namespace's hook (<see cref="NetnsInet6.Ip6DstLookupFlow"/>).</summary>
    /// <remarks>Mirrors net/ipv6/ip6_output.c: ip6_dst_lookup_flow().</remarks>
    internal static int Ip6DstLookupFlow(NetNamespace net, Sock sk, UInt128 daddr, ref UInt128 saddr, int oif) =>
        net.Inet6.Ip6DstLookupFlow(net, sk, daddr, ref saddr, oif);

    /// <summary>Whether an address is one of this namespace's IPv6 addresses, through its hook (<see cref="NetnsInet6.Ipv6ChkAddr"/>).</summary>
    /// <remarks>Mirrors net/ipv6/addrconf.c: ipv6_chk_addr().</remarks>
    internal static bool Ipv6ChkAddr(NetNamespace net, UInt128 addr, int ifindex) => net.Inet6.Ipv6ChkAddr(net, addr, ifindex);

    /// <summary>The signature of <see cref="NetnsInet6.Ip6DstLookupFlow"/>: 0 with the source in saddr, or a negative errno.</summary>
    internal delegate int Ip6DstLookupFlowFn(NetNamespace net, Sock sk, UInt128 daddr, ref UInt128 saddr, int oif);

    // ---- ipv6_addr_type() (include/net/ipv6.h: IPV6_ADDR_*) ----

    internal const int IPV6_ADDR_ANY = 0x0000, IPV6_ADDR_UNICAST = 0x0001, IPV6_ADDR_MULTICAST = 0x0002,
        IPV6_ADDR_LOOPBACK = 0x0010, IPV6_ADDR_LINKLOCAL = 0x0020, IPV6_ADDR_SITELOCAL = 0x0040,
        IPV6_ADDR_COMPATv4 = 0x0080, IPV6_ADDR_MAPPED = 0x1000, IPV6_ADDR_RESERVED = 0x2000;

    /// <summary>
    /// The kind of an IPv6 address as the socket calls test it: any, loopback, v4-mapped,
    /// link-local, multicast, unicast (the scope bits are folded into these flags).
    /// </summary>
    /// <remarks>Mirrors net/ipv6/addrconf_core.c: __ipv6_addr_type() (ipv6_addr_type() keeps the type bits).</remarks>
    internal static int Ipv6AddrType(UInt128 a)
    {
        uint st = (uint)(a >> 96);
        // Consider all addresses with the first three bits different of 000 and 111 as unicast.
        if ((st & 0xE0000000) != 0 && (st & 0xE0000000) != 0xE0000000) return IPV6_ADDR_UNICAST;
        if ((st & 0xFF000000) == 0xFF000000)
        {
            // ipv6_addr_scope2type(IPV6_ADDR_MC_SCOPE()): node-local counts as loopback.
            int scope = (int)((st >> 16) & 0x0f);
            int scopeType = scope switch { 1 => IPV6_ADDR_LOOPBACK, 2 => IPV6_ADDR_LINKLOCAL, 5 => IPV6_ADDR_SITELOCAL, _ => 0 };
            return IPV6_ADDR_MULTICAST | scopeType;
        }
        if ((st & 0xFFC00000) == 0xFE800000) return IPV6_ADDR_LINKLOCAL | IPV6_ADDR_UNICAST;
        if ((st & 0xFFC00000) == 0xFEC00000) return IPV6_ADDR_SITELOCAL | IPV6_ADDR_UNICAST;
        if ((st & 0xFE000000) == 0xFC000000) return IPV6_ADDR_UNICAST; // RFC 4193
        if ((a >> 64) == 0)
        {
            uint w2 = (uint)(a >> 32), w3 = (uint)a;
            if (w2 == 0)
            {
                if (w3 == 0) return IPV6_ADDR_ANY;
                if (w3 == 1) return IPV6_ADDR_LOOPBACK | IPV6_ADDR_UNICAST;
                return IPV6_ADDR_COMPATv4 | IPV6_ADDR_UNICAST;
            }
            if (w2 == 0x0000ffff) return IPV6_ADDR_MAPPED;
        }
        return IPV6_ADDR_UNICAST;
    }

    /// <summary>Link-local unicast and link/interface-local multicast need an interface (sin6_scope_id or a bound device).</summary>
    /// <remarks>Mirrors include/net/ipv6.h: __ipv6_addr_needs_scope_id().</remarks>
    internal static bool Ipv6AddrNeedsScopeId(int type) =>
        (type & IPV6_ADDR_LINKLOCAL) != 0 || ((type & IPV6_ADDR_MULTICAST) != 0 && (type & IPV6_ADDR_LOOPBACK) != 0);

    /// <summary>::ffff:0.0.0.0, the mapped form of INADDR_ANY.</summary>
    /// <remarks>Mirrors include/net/ipv6.h: ipv6_mapped_addr_any().</remarks>
    internal static bool Ipv6MappedAddrAny(UInt128 a) => Ipv6Address.IsV4Mapped(a) && Ipv6Address.V4Of(a) == 0;

    /// <summary>
    /// LOOPBACK4_IPV6 (127.0.0.6): the IPv4 address of an AF_INET6 sock bound to a native IPv6
    /// address, which no IPv4 packet is ever addressed to, so IPv4 lookups skip the sock.
    /// </summary>
    /// <remarks>Mirrors include/net/ipv6.h: LOOPBACK4_IPV6.</remarks>
    internal const uint Loopback4Ipv6 = 0x7f000006;

    /// <summary>
    /// The per-namespace operations of the IPv6 socket family: its share of struct netns_ipv6
    /// (the bindv6only sysctl), PF_INET6 in net_families[], and inetsw6[].
    /// </summary>
    /// <remarks>Mirrors inet6_init() / inet6_net_init() (net->ipv6.sysctl.bindv6only = 0) and ipv6_sysctl_net_init()'s "bindv6only".</remarks>
    internal sealed class Inet6NetOps : PernetOperations
    {
        public static readonly Inet6NetOps Instance = new();
        private Inet6NetOps() { }
        public override string Name => "inet6";

        public override void Init(NetNamespace net)
        {
            var ns = new NetnsInet6();
            net.NetAssignGeneric(Id, ns);
            net.Sysctl.RegisterNetSysctl("net/ipv6",
            [
                CtlTable.Bool("bindv6only", () => ns.Bindv6only, v => ns.Bindv6only = v),
            ]);
            Net.SocketCalls.SockRegister(net, Inet6FamilyOps.Instance);
            // The order of inet6_init(): rawv6, pingv6, udpv6, tcpv6.
            foreach (var q in Inet6Protosw.Inetsw6Array) Inet6RegisterProtosw(net, q);
        }
    }
}

/// <summary>
/// The socket side of struct netns_ipv6: inetsw6[] (a global list in Linux, per namespace here as
/// inetsw is) and net.ipv6.bindv6only.
/// </summary>
public sealed class NetnsInet6
{
    /// <summary>net.ipv6.bindv6only: the IPV6_V6ONLY a new AF_INET6 socket starts with (0: dual stack).</summary>
    public bool Bindv6only;

    internal readonly List<InetProtosw>[] Inetsw6 = CreateInetsw6();

    /// <summary>
    /// The output route of a native (not v4-mapped) IPv6 destination: 0 with the source to use in
    /// saddr (when it was ::), or a negative errno: source selection first for a flow without a
    /// source (-EADDRNOTAVAIL when the host has no usable address), then the route (-ENETUNREACH).
    /// The IPv6 network layer's lookup (Ip6DstLookup.cs); a test may replace it.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/ip6_output.c: ip6_dst_lookup_flow().</remarks>
    internal AfInet6.Ip6DstLookupFlowFn Ip6DstLookupFlow = static (NetNamespace net, Sock sk, UInt128 daddr, ref UInt128 saddr, int oif) =>
        Ip6DstLookup.Ip6DstLookupFlow(net, sk, daddr, ref saddr, oif, out _);

    /// <summary>
    /// Whether the address is one of this host's IPv6 addresses (on device the given interface
    /// index, or any device for 0): addrconf's ipv6_chk_addr().
    /// </summary>
    /// <remarks>Mirrors net/ipv6/addrconf.c: ipv6_chk_addr().</remarks>
    internal Func<NetNamespace, UInt128, int, bool> Ipv6ChkAddr = static (net, addr, ifindex) =>
        Addrconf.Ipv6ChkAddr(net, addr, ifindex == 0 ? null : net.DevGetByIndex(ifindex));

    /// <summary>raw_v6_hashinfo: the AF_INET6 raw sockets (apart from AF_INET's, which IPv4 delivers to).</summary>
    internal readonly List<InetSock> RawV6Hashinfo = [];

    private static List<InetProtosw>[] CreateInetsw6()
    {
        var a = new List<InetProtosw>[Uapi.SocketConstants.SOCK_MAX];
        for (int i = 0; i < a.Length; i++) a[i] = new List<InetProtosw>();
        return a;
    }

    /// <summary>A snapshot of inetsw6[type], in lookup order (for tests and status pages).</summary>
    public IReadOnlyList<InetProtosw> Inetsw6List(int type)
    {
        lock (Inetsw6) return Inetsw6[type].ToArray();
    }
}

/// <summary>The IPv6 socket family's members on <see cref="NetNamespace"/>.</summary>
public static class NetNamespaceInet6
{
    extension(NetNamespace net)
    {
        /// <summary>The socket side of net->ipv6: inetsw6[] and bindv6only.</summary>
        public NetnsInet6 Inet6 => net.NetGeneric<NetnsInet6>(AfInet6.Inet6NetOps.Instance.Id);
    }
}
