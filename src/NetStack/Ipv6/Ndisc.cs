using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Ipv4;
using NetStack.Wire;

namespace NetStack.Ipv6;

/// <summary>
/// Neighbour discovery (RFC 4861): neighbour solicitations and advertisements received and sent,
/// over the same neighbour table code as ARP (<see cref="NeighTable"/> with 16-byte keys), so the
/// NUD states and timers are the ones ARP has. Router advertisements are processed in
/// Ndisc.Router.cs; router solicitations (a host ignores them) and redirects are counted only.
/// </summary>
/// <remarks>Mirrors net/ipv6/ndisc.c.</remarks>
internal static partial class Ndisc
{
    /// <summary>The hop limit every ND message is sent with and must arrive with (RFC 4861 7.1).</summary>
    private const int NdHopLimit = 255;
    /// <summary>sizeof(struct nd_msg): ICMPv6 header and target address.</summary>
    private const int NdMsgLen = NdMsg.NsNaOptions;

    /// <summary>
    /// An ND message (Data at its ICMPv6 header, checksum verified): hop limit 255 and code 0, or
    /// it is dropped; then the handler of its type. Returns 0 (consumed) or the drop reason.
    /// </summary>
    /// <remarks>Mirrors ndisc_rcv().</remarks>
    internal static SkbDropReason NdiscRcv(NetNamespace net, SkBuff skb, UInt128 saddr, UInt128 daddr)
    {
        var ip6 = Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length));
        if (ip6.HopLimit != NdHopLimit) return SkbDropReason.Ipv6NdiscHopLimit;
        var msg = skb.DataSpan;
        if (msg[1] != 0) return SkbDropReason.Ipv6NdiscBadCode;
        return msg[0] switch
        {
            Icmpv6Type.NeighbourSolicitation => NdiscRecvNs(net, skb, saddr, daddr),
            Icmpv6Type.NeighbourAdvertisement => NdiscRecvNa(net, skb, daddr),
            Icmpv6Type.RouterAdvertisement => NdiscRouterDiscovery(net, skb),
            _ => SkbDropReason.NotSpecified, // RS (a host ignores them) and redirects: not processed
        };
    }

    /// <summary>
    /// A neighbour solicitation. For one of our addresses: a DAD probe (unspecified source) is
    /// answered to all-nodes; otherwise the sender's entry is created or refreshed as STALE from its
    /// source link-layer address option, and a solicited advertisement goes back to it (with our
    /// link-layer address and the override flag when the solicitation was multicast).
    /// </summary>
    /// <remarks>Mirrors ndisc_recv_ns().</remarks>
    private static SkbDropReason NdiscRecvNs(NetNamespace net, SkBuff skb, UInt128 saddr, UInt128 daddr)
    {
        var dev = skb.Dev!;
        var msg = skb.DataSpan;
        if (msg.Length < NdMsgLen) return SkbDropReason.PktTooSmall;
        var target = NdMsg.Target(msg);
        if (Ipv6Address.IsMulticast(target)) return SkbDropReason.NotSpecified; // "NS: multicast target address"
        bool dad = saddr == Ipv6Address.Any;
        // RFC 4861 7.1.1: DAD goes to the solicited-node group.
        if (dad && !Ipv6Address.IsSolicitedNode(daddr)) return SkbDropReason.NotSpecified;
        var opts = msg[NdMsgLen..];
        if (!NdiscOptions.Parse(opts, out var ndopts)) return SkbDropReason.Ipv6NdiscBadOptions;
        MacAddress lladdr = default;
        bool haveLladdr = false;
        if (ndopts.SourceLlAddr != 0)
        {
            if (!NdiscOptions.TryLlAddr(opts, ndopts.SourceLlAddr, out lladdr)) return SkbDropReason.NotSpecified; // invalid length
            if (dad) return SkbDropReason.NotSpecified; // RFC 4861 7.1.1: no SLLAO with an unspecified source
            haveLladdr = true;
        }
        bool inc = Ipv6Address.IsMulticast(daddr);
        var ifp = Addrconf.Ipv6GetIfaddr(net, target, dev, strict: true);
        if (ifp is null) return SkbDropReason.Ipv6NdiscNsOtherhost; // no anycast, no proxy ndp
        if ((ifp.Flags & (IfaFlags.Tentative | IfaFlags.Optimistic)) != 0)
        {
            if (!dad) return 0; // not a DAD probe: a tentative address is not answered for
            // Our own probe looped back carries our nonce; anyone else's probe means both are trying the address.
            ulong nonce = NdiscOptions.TryNonce(opts, ndopts.Nonce, out var n) ? n : 0;
            if (nonce != 0 && ifp.DadNonce == nonce) return 0;
            if ((ifp.Flags & IfaFlags.Dadfailed) == 0) Addrconf.AddrconfDadFailure(net, skb, ifp);
            return 0;
        }
        bool isRouter = net.Ipv6.Sysctl.Forwarding;
        if (dad)
        {
            NdiscSendNa(net, dev, Ipv6Address.AllNodes, target, isRouter, solicited: false, @override: true, incOpt: true);
            return 0;
        }
        var tbl = net.Ipv6.NdTbl;
        tbl.Stats[inc ? NeighStat.RcvProbesMcast : NeighStat.RcvProbesUcast]++;
        // __neigh_lookup(create = !inc || lladdr): a multicast NS without our means to answer makes no entry.
        var neigh = tbl.NeighLookup(saddr, dev) ?? (!inc || haveLladdr ? tbl.NeighCreate(saddr, dev) : null);
        if (neigh is not null)
        {
            NdiscUpdate(tbl, neigh, haveLladdr ? lladdr : null, NudState.Stale, @override: true, weakOverride: true);
            NdiscSendNa(net, dev, saddr, target, isRouter, solicited: true, @override: inc, incOpt: inc);
        }
        return 0;
    }

    /// <summary>
    /// A neighbour advertisement: for a target in our cache, the entry is updated (REACHABLE when
    /// solicited, STALE otherwise) within the override rules; an advertisement of one of our own
    /// addresses is logged and ignored; a FAILED entry is left alone.
    /// </summary>
    /// <remarks>Mirrors ndisc_recv_na().</remarks>
    private static SkbDropReason NdiscRecvNa(NetNamespace net, SkBuff skb, UInt128 daddr)
    {
        var dev = skb.Dev!;
        var msg = skb.DataSpan;
        if (msg.Length < NdMsgLen) return SkbDropReason.PktTooSmall;
        uint flags = Icmpv6Header.Create(msg).Rest;
        bool solicited = (flags & Icmpv6Header.NaSolicited) != 0, over = (flags & Icmpv6Header.NaOverride) != 0;
        var target = NdMsg.Target(msg);
        if (Ipv6Address.IsMulticast(target)) return SkbDropReason.NotSpecified;
        if (Ipv6Address.IsMulticast(daddr) && solicited) return SkbDropReason.NotSpecified; // "NA: solicited NA is multicasted"
        var opts = msg[NdMsgLen..];
        if (!NdiscOptions.Parse(opts, out var ndopts)) return SkbDropReason.Ipv6NdiscBadOptions;
        MacAddress lladdr = default;
        bool haveLladdr = false;
        if (ndopts.TargetLlAddr != 0)
        {
            if (!NdiscOptions.TryLlAddr(opts, ndopts.TargetLlAddr, out lladdr)) return SkbDropReason.NotSpecified;
            haveLladdr = true;
        }
        if (Addrconf.Ipv6GetIfaddr(net, target, dev, strict: true) is { } ifp)
        {
            if (skb.PktType != Eth.PacketLoopback && (ifp.Flags & IfaFlags.Tentative) != 0)
            {
                if ((ifp.Flags & IfaFlags.Dadfailed) == 0) Addrconf.AddrconfDadFailure(net, skb, ifp);
                return 0;
            }
            if (skb.PktType != Eth.PacketLoopback && net.Log.NetRatelimit())
                net.Log.Printk($"NA: {EthernetHeader.Create(skb.Buffer.AsSpan(skb.MacHeader)).Source} advertised our address {Ipv6Address.Format(target)} on {dev.Name}!");
            return SkbDropReason.NotSpecified;
        }
        var tbl = net.Ipv6.NdTbl;
        var neigh = tbl.NeighLookup(target, dev);
        if (neigh is null || neigh.NudState == NudState.Failed) return SkbDropReason.NotSpecified;
        NdiscUpdate(tbl, neigh, haveLladdr ? lladdr : null, solicited ? NudState.Reachable : NudState.Stale, over, weakOverride: true);
        return 0;
    }

    /// <summary>
    /// neigh_update()'s rules for a link-layer address from ND: none given is only usable when the
    /// entry has one; a different one replaces a valid entry's only with the override flag, and
    /// without it a confirmed (REACHABLE) entry is merely made STALE (weak override); the same
    /// address in a STALE update leaves the state as it is.
    /// </summary>
    /// <remarks>Mirrors ndisc_update() -> neigh_update() (NEIGH_UPDATE_F_OVERRIDE, NEIGH_UPDATE_F_WEAK_OVERRIDE).</remarks>
    private static void NdiscUpdate(NeighTable tbl, Neighbour n, MacAddress? lladdr, NudState state, bool @override, bool weakOverride)
    {
        var old = n.NudState;
        bool oldValid = (old & NudState.Valid) != 0;
        MacAddress ll;
        if (lladdr is { } given) ll = oldValid && given == n.HaAddr ? n.HaAddr : given;
        else
        {
            if (!oldValid) return; // "No link layer address given"
            ll = n.HaAddr;
        }
        if (oldValid && ll != n.HaAddr && !@override)
        {
            const NudState connected = NudState.Permanent | NudState.NoArp | NudState.Reachable;
            if (weakOverride && (old & connected) != 0)
            {
                tbl.NeighUpdate(n, n.HaAddr, NudState.Stale, weakOverridden: true);
                return;
            }
            return;
        }
        tbl.NeighUpdate(n, ll, state);
    }

    /// <summary>
    /// Sends a neighbour advertisement for <paramref name="target"/> (ours) to <paramref name="daddr"/>,
    /// from the target address itself, with our link-layer address when <paramref name="incOpt"/>.
    /// </summary>
    /// <remarks>Mirrors ndisc_send_na().</remarks>
    internal static void NdiscSendNa(NetNamespace net, NetDevice dev, UInt128 daddr, UInt128 target, bool router, bool solicited, bool @override, bool incOpt)
    {
        UInt128 src;
        if (Addrconf.Ipv6GetIfaddr(net, target, dev, strict: true) is not null) src = target;
        else if (!Addrconf.Ipv6DevGetSaddr(net, dev, daddr, out src)) return;
        var skb = net.SkbPool.AllocWithHeadroom();
        if (skb is null) { net.Mib.Drops[SkbDropReason.NoBuffers]++; return; }
        var msg = skb.Put(NdMsgLen + (incOpt ? NdOpt.EthLlAddrSpace : 0));
        msg.Clear();
        var icmp = Icmpv6Header.Create(msg);
        icmp.Type = Icmpv6Type.NeighbourAdvertisement;
        icmp.Rest = (router ? Icmpv6Header.NaRouter : 0) | (solicited ? Icmpv6Header.NaSolicited : 0) | (@override ? Icmpv6Header.NaOverride : 0);
        Ipv6Address.Write(msg[NdMsg.NsNaTarget..], target);
        if (incOpt) NdiscOptions.WriteLlAddr(msg[NdMsgLen..], NdOpt.TargetLlAddr, dev.DevAddr);
        NdiscSendSkb(net, dev, skb, daddr, src);
    }

    /// <summary>
    /// Sends a neighbour solicitation for <paramref name="target"/> to <paramref name="daddr"/> (the
    /// solicited-node group, or the neighbour itself when probing), from <paramref name="saddr"/> or
    /// else the device's link-local address, with our link-layer address unless the source is unspecified.
    /// </summary>
    /// <remarks>Mirrors ndisc_send_ns() (a DAD probe of enhanced_dad carries the nonce option).</remarks>
    internal static void NdiscSendNs(NetNamespace net, NetDevice dev, UInt128 target, UInt128 daddr, UInt128? saddr, ulong nonce = 0)
    {
        UInt128 src;
        if (saddr is { } s) src = s;
        else if (Addrconf.Ipv6GetLladdr(net, dev) is { } ll) src = ll;
        else return;
        bool incOpt = src != Ipv6Address.Any;
        var skb = net.SkbPool.AllocWithHeadroom();
        if (skb is null) { net.Mib.Drops[SkbDropReason.NoBuffers]++; return; }
        var msg = skb.Put(NdMsgLen + (incOpt ? NdOpt.EthLlAddrSpace : 0) + (nonce != 0 ? 8 : 0));
        msg.Clear();
        Icmpv6Header.Create(msg).Type = Icmpv6Type.NeighbourSolicitation;
        Ipv6Address.Write(msg[NdMsg.NsNaTarget..], target);
        int o = NdMsgLen;
        if (incOpt) o += NdiscOptions.WriteLlAddr(msg[o..], NdOpt.SourceLlAddr, dev.DevAddr);
        if (nonce != 0) NdiscOptions.WriteNonce(msg[o..], nonce);
        NdiscSendSkb(net, dev, skb, daddr, src);
    }

    /// <summary>
    /// Checksums an ND message and sends it out of <paramref name="dev"/> with hop limit 255, on the
    /// link directly (no routing: the destination is a neighbour or a link-scope group).
    /// </summary>
    /// <remarks>Mirrors ndisc_send_skb() (icmp6_dst_alloc() on the device, ip6_nd_hdr(), csum_ipv6_magic()).</remarks>
    internal static void NdiscSendSkb(NetNamespace net, NetDevice dev, SkBuff skb, UInt128 daddr, UInt128 saddr)
    {
        Icmpv6Header.Create(skb.DataSpan).FillChecksum(saddr, daddr);
        var idev = Addrconf.In6DevGet(net, dev);
        if (idev is null) { skb.Free(); return; }
        Icmpv6.Icmpv6Xmit(net, skb, idev.OnLink, saddr, daddr, NdHopLimit);
    }

    /// <summary>
    /// A probe for an unresolved or suspect entry: to the solicited-node group while INCOMPLETE,
    /// to the neighbour itself while PROBE; from the source of the packet that waits when that is
    /// one of our addresses.
    /// </summary>
    /// <remarks>Mirrors ndisc_solicit() (ucast probes first when a link-layer address is known, then multicast).</remarks>
    internal static void NdiscSolicit(NetNamespace net, Neighbour n)
    {
        var target = n.PrimaryKey;
        UInt128? saddr = null;
        if (n.ArpQueue.Last is { } waiting && waiting.Len >= Ipv6Header.Length)
        {
            var src = Ipv6Header.Create(waiting.DataSpan).Source;
            if (Addrconf.Ipv6ChkAddr(net, src, n.Dev)) saddr = src;
        }
        if (n.NudState == NudState.Probe) NdiscSendNs(net, n.Dev, target, target, saddr);
        else NdiscSendNs(net, n.Dev, target, Ipv6Address.SolicitedNode(target), saddr);
    }
}

/// <summary>nd_tbl's half of the neighbour table: its name, key length and parameters, ndisc_solicit() and ndisc_error_report().</summary>
/// <remarks>Mirrors net/ipv6/ndisc.c: nd_tbl and ndisc_generic_ops.</remarks>
internal sealed class NdiscNeighOps : NeighOps
{
    public static readonly NdiscNeighOps Instance = new();
    private NdiscNeighOps() { }

    public override string Id => "ndisc_cache";
    public override int KeyLen => 16;
    public override ushort Protocol => EthP.IPV6;
    public override NeighParms Parms(NetNamespace net) => net.Ipv6.Sysctl.Neigh;
    public override string FormatKey(UInt128 key) => Ipv6Address.Format(key);
    public override void Solicit(NetNamespace net, Neighbour n) => Ndisc.NdiscSolicit(net, n);

    /// <summary>An ICMPv6 address unreachable to the waiting packet's source.</summary>
    /// <remarks>Mirrors ndisc_error_report() -> dst_link_failure() -> ip6_link_failure() -> icmpv6_send(ICMPV6_DEST_UNREACH, ICMPV6_ADDR_UNREACH).</remarks>
    public override void ErrorReport(NetNamespace net, Neighbour n, SkBuff skb) =>
        Icmpv6.Icmp6Send(net, skb, Icmpv6Type.DestUnreach, Icmpv6Type.AddrUnreach, 0);
}
