using NetStack.Ipv4;
using NetStack.Net;

namespace NetStack.Core;

public sealed partial class NetNamespace
{
    /// <summary>
    /// inetsw[SOCK_MAX]: for each socket type, the (protocol -&gt; prot, ops) entries inet_create walks.
    /// Per stack here (the kernel's table is global; one NetNamespace is one booted kernel).
    /// </summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: static struct list_head inetsw[SOCK_MAX].</remarks>
    internal readonly List<InetProtosw>[] Inetsw = CreateInetsw();

    private static List<InetProtosw>[] CreateInetsw()
    {
        var a = new List<InetProtosw>[SocketConstants.SOCK_MAX];
        for (int i = 0; i < a.Length; i++) a[i] = new List<InetProtosw>();
        return a;
    }

    /// <summary>A snapshot of inetsw[type], in lookup order (for tests and status pages).</summary>
    public IReadOnlyList<InetProtosw> InetswList(int type)
    {
        lock (SyncRoot) return Inetsw[type].ToArray();
    }

    /// <summary>udp_table: the bound UDP sockets of this stack.</summary>
    internal readonly UdpTable UdpTable = new();
    /// <summary>ping_table: ping sockets by identifier.</summary>
    internal readonly PingTable PingTable = new();
    /// <summary>raw_v4_hashinfo: raw sockets by protocol.</summary>
    internal readonly RawHashinfo RawHash = new();

    /// <summary>net.ipv4.ip_unprivileged_port_start: binding below it needs CAP_NET_BIND_SERVICE.</summary>
    public int SysctlIpUnprivilegedPortStart = 1024;
    /// <summary>net.ipv4.ip_nonlocal_bind.</summary>
    public bool SysctlIpNonlocalBind;
    /// <summary>net.ipv4.ip_no_pmtu_disc.</summary>
    public bool SysctlIpNoPmtuDisc;
}
