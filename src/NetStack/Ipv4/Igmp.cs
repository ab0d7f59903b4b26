using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Uapi;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>A socket's membership of a group (struct ip_mc_socklist: imr_multiaddr, imr_address, imr_ifindex, sfmode).</summary>
/// <remarks>Mirrors include/linux/igmp.h: struct ip_mc_socklist (no source filter list: IP_ADD_SOURCE_MEMBERSHIP is not modelled).</remarks>
internal sealed class IpMcSocklist(uint multiaddr, uint address, int ifindex)
{
    /// <summary>multi.imr_multiaddr (host order).</summary>
    public readonly uint Multiaddr = multiaddr;
    /// <summary>multi.imr_address: the interface address the join named (host order).</summary>
    public readonly uint Address = address;
    /// <summary>multi.imr_ifindex: the device the group was joined on.</summary>
    public readonly int Ifindex = ifindex;
    /// <summary>sfmode: MCAST_EXCLUDE for an any-source join.</summary>
    public readonly int Sfmode = Igmp.McastExclude;
}

/// <summary>
/// A group a device is a member of (struct ip_mc_list): how many sockets joined it and the IGMP
/// state of its reports. Any-source memberships only, so sfcount[MCAST_EXCLUDE] is <see cref="Users"/>.
/// </summary>
/// <remarks>Mirrors include/linux/igmp.h: struct ip_mc_list.</remarks>
internal sealed class IpMcList
{
    public IpMcList(InDeviceMc inDev, uint multiaddr)
    {
        Interface = inDev;
        Multiaddr = multiaddr;
        Timer = new TimerList(Igmp.IgmpTimerExpire, this);
    }
    /// <summary>interface: the device's multicast state.</summary>
    public readonly InDeviceMc Interface;
    /// <summary>multiaddr (host order).</summary>
    public readonly uint Multiaddr;
    /// <summary>users: joins on this device.</summary>
    public int Users;
    /// <summary>loaded: the link-layer filter holds the group's MAC.</summary>
    public bool Loaded;
    /// <summary>timer: the report delay (unsolicited or answering a query).</summary>
    public readonly TimerList Timer;
    /// <summary>tm_running, reporter, gsquery.</summary>
    public bool TmRunning, Reporter, Gsquery;
    /// <summary>unsolicit_count: unsolicited v1/v2 reports still to send.</summary>
    public int UnsolicitCount;
    /// <summary>crcount: state-change (IGMPv3) reports still to send.</summary>
    public int Crcount;
}

/// <summary>The multicast half of a device's struct in_device: its groups, the deleted ones still being reported, the querier state and the report timers.</summary>
/// <remarks>Mirrors include/linux/inetdevice.h: struct in_device (mc_list, mc_tomb, mr_* fields).</remarks>
internal sealed class InDeviceMc
{
    public InDeviceMc(NetDevice dev)
    {
        Dev = dev;
        GqTimer = new TimerList(Igmp.IgmpGqTimerExpire, this);
        IfcTimer = new TimerList(Igmp.IgmpIfcTimerExpire, this);
    }
    /// <summary>dev.</summary>
    public readonly NetDevice Dev;
    /// <summary>mc_list: newest first, as the kernel links a new group at the head.</summary>
    public readonly List<IpMcList> McList = new();
    /// <summary>mc_tomb: groups left, whose leave (TO_IN) reports are still being sent.</summary>
    public readonly List<IpMcList> McTomb = new();
    /// <summary>mr_gq_timer / mr_ifc_timer.</summary>
    public readonly TimerList GqTimer, IfcTimer;
    /// <summary>mr_gq_running.</summary>
    public bool GqRunning;
    /// <summary>mr_ifc_count: state-change report rounds left.</summary>
    public int IfcCount;
    /// <summary>mr_v1_seen / mr_v2_seen: until when (ns) an older querier was heard; 0 = never.</summary>
    public long MrV1Seen, MrV2Seen;
    /// <summary>mr_qrv: the querier's robustness variable (net.ipv4.igmp_qrv until a query says).</summary>
    public int MrQrv;
    /// <summary>mr_maxdelay (jiffies), mr_qi and mr_qri (jiffies).</summary>
    public int MrMaxdelay = Igmp.IgmpQueryResponseInterval, MrQi = Igmp.IgmpQueryInterval, MrQri = Igmp.IgmpQueryResponseInterval;
    /// <summary>dead: the device is going away.</summary>
    public bool Dead;
}

/// <summary>
/// IGMP (v1, v2 and v3 host side, any-source memberships) and the group memberships of devices
/// and sockets: joins and leaves, the link-layer filter, unsolicited and answering reports, the
/// membership check of received multicast.
/// </summary>
/// <remarks>Mirrors net/ipv4/igmp.c.</remarks>
internal static class Igmp
{
    /// <summary>IGMP in each namespace: the IP protocol handler.</summary>
    /// <remarks>Mirrors inet_init(): inet_add_protocol(&amp;igmp_protocol, IPPROTO_IGMP).</remarks>
    internal sealed class IgmpNetOps : PernetOperations
    {
        public static readonly IgmpNetOps Instance = new();
        private IgmpNetOps() { }
        public override string Name => "igmp";
        public override void Init(NetNamespace net) => net.InetAddProtocol(new NetProtocol(IgmpRcv), IpProto.IGMP);
    }

    /// <summary>MCAST_INCLUDE / MCAST_EXCLUDE.</summary>
    public const int McastInclude = 0, McastExclude = 1;
    /// <summary>IGMP_ALL_HOSTS (224.0.0.1), IGMP_ALL_ROUTER (224.0.0.2), IGMPV3_ALL_MCR (224.0.0.22).</summary>
    public const uint IgmpAllHosts = 0xE0000001, IgmpAllRouter = 0xE0000002, Igmpv3AllMcr = 0xE0000016;

    // Message types (include/uapi/linux/igmp.h).
    public const byte IgmpHostMembershipQuery = 0x11, IgmpHostMembershipReport = 0x12, Igmpv2HostMembershipReport = 0x16,
        IgmpHostLeaveMessage = 0x17, Igmpv3HostMembershipReport = 0x22;
    // IGMPv3 group record types.
    public const byte Igmpv3ModeIsInclude = 1, Igmpv3ModeIsExclude = 2, Igmpv3ChangeToInclude = 3, Igmpv3ChangeToExclude = 4;

    /// <summary>HZ: the kernel's tick (Debian's CONFIG_HZ=250); IGMP's delays are counted in jiffies.</summary>
    public const int Hz = 250;
    private const long JiffyNs = 1_000_000_000L / Hz;
    /// <summary>IGMP_QUERY_RESPONSE_INTERVAL (10 s), IGMP_QUERY_INTERVAL (125 s), in jiffies.</summary>
    public const int IgmpQueryResponseInterval = 10 * Hz, IgmpQueryInterval = 125 * Hz;
    /// <summary>IGMP_INITIAL_REPORT_DELAY: one jiffy before the first v1/v2 report.</summary>
    private const int IgmpInitialReportDelay = 1;
    /// <summary>IGMP_TIMER_SCALE: Max Resp Time is in tenths of a second.</summary>
    private const int IgmpTimerScale = 10;
    /// <summary>net.ipv4.conf.*.igmpv2_unsolicited_report_interval (10 s) / igmpv3_unsolicited_report_interval (1 s), in jiffies.</summary>
    private const int Igmpv2UnsolicitedReportInterval = 10 * Hz, Igmpv3UnsolicitedReportInterval = 1 * Hz;

    /// <summary>ipv4_is_local_multicast(): 224.0.0.0/24.</summary>
    public static bool IsLocalMulticast(uint a) => (a & 0xFFFFFF00) == 0xE0000000;

    /// <summary>ip_eth_mc_map(): 01:00:5e and the low 23 bits of the group.</summary>
    public static MacAddress IpEthMcMap(uint group) => new(0x01005E000000UL | (group & 0x7FFFFF));

    private static long Jiffies(NetNamespace net) => net.Clock.NowNs / JiffyNs;

    /// <summary>The device's multicast state, null for a device IPv4 never brought up (in_dev).</summary>
    public static InDeviceMc? InDevGet(NetNamespace net, NetDevice dev) =>
        net.Ipv4.McDevs.TryGetValue(dev, out var d) ? d : null;

    /// <summary>dev_get_by_index(): the device with this ifindex, or null.</summary>
    public static NetDevice? DevGetByIndex(NetNamespace net, int ifindex)
    {
        var devs = net.Devices;
        for (int i = 0; i < devs.Count; i++) if (devs[i].IfIndex == ifindex) return devs[i];
        return null;
    }

    private static bool V1Seen(NetNamespace net, InDeviceMc d) => d.MrV1Seen != 0 && Jiffies(net) < d.MrV1Seen;
    private static bool V2Seen(NetNamespace net, InDeviceMc d) => d.MrV2Seen != 0 && Jiffies(net) < d.MrV2Seen;
    private static int Qrv(NetNamespace net, InDeviceMc d) => d.MrQrv != 0 ? d.MrQrv : net.Ipv4.Sysctl.IgmpQrv;

    /// <remarks>Mirrors unsolicited_report_interval().</remarks>
    private static int UnsolicitedReportInterval(NetNamespace net, InDeviceMc d) =>
        V1Seen(net, d) || V2Seen(net, d) ? Igmpv2UnsolicitedReportInterval : Igmpv3UnsolicitedReportInterval;

    // ------------------------------------------------------------------ timers

    /// <remarks>Mirrors igmp_stop_timer().</remarks>
    private static void IgmpStopTimer(NetNamespace net, IpMcList im)
    {
        net.Timers.DelTimer(im.Timer);
        im.TmRunning = false;
        im.Reporter = false;
        im.UnsolicitCount = 0;
    }

    /// <remarks>Mirrors igmp_start_timer(): a random delay below <paramref name="maxDelay"/> jiffies, plus 2.</remarks>
    private static void IgmpStartTimer(NetNamespace net, IpMcList im, int maxDelay)
    {
        int tv = Random.Shared.Next(maxDelay);
        im.TmRunning = true;
        net.Timers.ModTimer(im.Timer, (Jiffies(net) + tv + 2) * JiffyNs);
    }

    /// <remarks>Mirrors igmp_gq_start_timer().</remarks>
    private static void IgmpGqStartTimer(NetNamespace net, InDeviceMc d)
    {
        int tv = Random.Shared.Next(d.MrMaxdelay);
        long exp = (Jiffies(net) + tv + 2) * JiffyNs;
        if (d.GqRunning && exp >= d.GqTimer.Expires) return;
        d.GqRunning = true;
        net.Timers.ModTimer(d.GqTimer, exp);
    }

    /// <remarks>Mirrors igmp_ifc_start_timer().</remarks>
    private static void IgmpIfcStartTimer(NetNamespace net, InDeviceMc d, int delay)
    {
        int tv = Random.Shared.Next(delay);
        net.Timers.ModTimer(d.IfcTimer, (Jiffies(net) + tv + 2) * JiffyNs);
    }

    /// <summary>A query asks for a report within <paramref name="maxDelay"/>: a running timer that fires sooner stays.</summary>
    /// <remarks>Mirrors igmp_mod_timer().</remarks>
    private static void IgmpModTimer(NetNamespace net, IpMcList im, int maxDelay)
    {
        im.UnsolicitCount = 0;
        if (im.Timer.Pending && im.Timer.Expires - net.Clock.NowNs < maxDelay * JiffyNs)
        {
            im.TmRunning = true;
            return;
        }
        IgmpStartTimer(net, im, maxDelay);
    }

    /// <remarks>Mirrors igmp_timer_expire(): one report in the version the link speaks, and the next unsolicited one armed.</remarks>
    internal static void IgmpTimerExpire(TimerList t)
    {
        var im = (IpMcList)t.Owner!;
        var d = im.Interface;
        var net = d.Dev.Net!;
        im.TmRunning = false;
        if (im.UnsolicitCount != 0 && --im.UnsolicitCount != 0)
            IgmpStartTimer(net, im, UnsolicitedReportInterval(net, d));
        im.Reporter = true;
        if (V1Seen(net, d)) IgmpSendReport(net, d, im, IgmpHostMembershipReport);
        else if (V2Seen(net, d)) IgmpSendReport(net, d, im, Igmpv2HostMembershipReport);
        else IgmpSendReport(net, d, im, Igmpv3HostMembershipReport);
    }

    /// <remarks>Mirrors igmp_gq_timer_expire(): the answer to a general query, every group in one report.</remarks>
    internal static void IgmpGqTimerExpire(TimerList t)
    {
        var d = (InDeviceMc)t.Owner!;
        d.GqRunning = false;
        Igmpv3SendReport(d.Dev.Net!, d, null);
    }

    /// <remarks>Mirrors igmp_ifc_timer_expire(): state-change reports, retransmitted qrv times at random intervals.</remarks>
    internal static void IgmpIfcTimerExpire(TimerList t)
    {
        var d = (InDeviceMc)t.Owner!;
        var net = d.Dev.Net!;
        Igmpv3SendCr(net, d);
        if (d.IfcCount != 0)
        {
            d.IfcCount--;
            IgmpIfcStartTimer(net, d, UnsolicitedReportInterval(net, d));
        }
    }

    /// <remarks>Mirrors igmp_ifc_event(): a membership changed; IGMPv3 reports it (qrv rounds).</remarks>
    private static void IgmpIfcEvent(NetNamespace net, InDeviceMc d)
    {
        if (V1Seen(net, d) || V2Seen(net, d)) return;
        d.IfcCount = Qrv(net, d);
        IgmpIfcStartTimer(net, d, 1);
    }

    // ------------------------------------------------------------------ reports

    /// <summary>Whether a group is reported at all: never 224.0.0.1, link-local groups only with net.ipv4.igmp_link_local_mcast_reports.</summary>
    private static bool Reportable(NetNamespace net, uint group) =>
        group != IgmpAllHosts && (!IsLocalMulticast(group) || net.Ipv4.Sysctl.IgmpLinkLocalMcastReports);

    /// <summary>
    /// Builds an IGMP message with the IP header the kernel gives it: TOS 0xc0, DF, ID 0, TTL 1, the
    /// Router Alert option, protocol 2; <paramref name="igmpLen"/> bytes of message for the caller to
    /// fill at the returned offset (in skb.Buffer). Null when no route or no buffer.
    /// </summary>
    /// <remarks>Mirrors igmpv3_newpack() / igmp_send_report() (the header part).</remarks>
    private static SkBuff? IgmpNewpack(NetNamespace net, InDeviceMc d, uint dst, int igmpLen, out Rtable rt)
    {
        uint saddr = 0;
        if (Route.IpRouteOutputMc(net, dst, ref saddr, d.Dev.IfIndex, out rt) != 0) return null;
        var skb = net.AllocSkb(Ipv4Header.MinLength + 4 + igmpLen);
        if (skb is null) return null;
        var p = skb.Put(Ipv4Header.MinLength + 4 + igmpLen);
        p.Clear();
        var iph = Ipv4Header.Create(p);
        new Ipv4Repr(saddr, dst, IpProto.IGMP, 4 + igmpLen, Ttl: 1, Tos: 0xC0,
            Id: IpOutput.IpSelectIdent(net, null, df: true), DontFragment: true).Emit(iph);
        iph.SetVersionIhl(4, 6);
        p[Ipv4Header.MinLength] = 148; // IPOPT_RA
        p[Ipv4Header.MinLength + 1] = 4;
        iph.FillChecksum();
        skb.NetworkHeader = skb.Data;
        skb.TransportHeader = skb.Data + Ipv4Header.MinLength + 4;
        return skb;
    }

    /// <summary>A v1 or v2 report (to the group) or a v2 leave (to 224.0.0.2); a v3 report goes to <see cref="Igmpv3SendReport"/>.</summary>
    /// <remarks>Mirrors igmp_send_report().</remarks>
    private static void IgmpSendReport(NetNamespace net, InDeviceMc d, IpMcList? pmc, byte type)
    {
        if (type == Igmpv3HostMembershipReport)
        {
            Igmpv3SendReport(net, d, pmc);
            return;
        }
        uint group = pmc?.Multiaddr ?? 0;
        if (IsLocalMulticast(group) && !net.Ipv4.Sysctl.IgmpLinkLocalMcastReports) return;
        uint dst = type == IgmpHostLeaveMessage ? IgmpAllRouter : group;
        var skb = IgmpNewpack(net, d, dst, 8, out var rt);
        if (skb is null) return;
        var ih = skb.Buffer.AsSpan(skb.TransportHeader, 8);
        ih[0] = type;
        BinaryPrimitives.WriteUInt32BigEndian(ih[4..], group);
        BinaryPrimitives.WriteUInt16BigEndian(ih[2..], Checksum.Compute(ih));
        IpOutput.IpLocalOut(net, skb, rt, dst);
    }

    /// <summary>Counts and writes one group record (no sources) into a v3 report being built.</summary>
    /// <remarks>Mirrors add_grec() / add_grhead() for a group without sources.</remarks>
    private static void AddGrec(NetNamespace net, List<(uint Group, byte Type)> recs, IpMcList pmc, byte type, bool isquery)
    {
        if (!Reportable(net, pmc.Multiaddr)) return;
        if (MtuTooSmall(pmc)) return;
        // empty_source: a record goes out when a change is being reported or a query answered.
        if (pmc.Crcount != 0 || isquery)
        {
            recs.Add((pmc.Multiaddr, type));
            if (isquery) pmc.Gsquery = false;
        }
    }

    private static bool MtuTooSmall(IpMcList pmc) => pmc.Interface.Dev.Mtu < 68; // IPV4_MIN_MTU

    /// <summary>Sends IGMPv3 reports of the given records to 224.0.0.22, as many records in each as the device's MTU holds (nothing when there is none).</summary>
    /// <remarks>Mirrors add_grec() starting a new packet when AVAILABLE(skb) is short, and igmpv3_sendpack().</remarks>
    private static void Igmpv3Sendpack(NetNamespace net, InDeviceMc d, List<(uint Group, byte Type)> recs)
    {
        int perPacket = Math.Max(1, (d.Dev.Mtu - Ipv4Header.MinLength - 4 - 8) / 8);
        for (int first = 0; first < recs.Count; first += perPacket)
            Igmpv3Sendpack(net, d, recs, first, Math.Min(perPacket, recs.Count - first));
    }

    private static void Igmpv3Sendpack(NetNamespace net, InDeviceMc d, List<(uint Group, byte Type)> all, int first, int count)
    {
        var recs = all.GetRange(first, count);
        int len = 8 + 8 * recs.Count;
        var skb = IgmpNewpack(net, d, Igmpv3AllMcr, len, out var rt);
        if (skb is null) return;
        var ih = skb.Buffer.AsSpan(skb.TransportHeader, len);
        ih[0] = Igmpv3HostMembershipReport;
        BinaryPrimitives.WriteUInt16BigEndian(ih[6..], (ushort)recs.Count);
        for (int i = 0; i < recs.Count; i++)
        {
            var g = ih.Slice(8 + 8 * i, 8);
            g[0] = recs[i].Type;
            BinaryPrimitives.WriteUInt32BigEndian(g[4..], recs[i].Group);
        }
        BinaryPrimitives.WriteUInt16BigEndian(ih[2..], Checksum.Compute(ih));
        IpOutput.IpLocalOut(net, skb, rt, Igmpv3AllMcr);
    }

    /// <summary>The current state (IS_EX) of one group, or of all of them (a general query's answer).</summary>
    /// <remarks>Mirrors igmpv3_send_report().</remarks>
    private static void Igmpv3SendReport(NetNamespace net, InDeviceMc d, IpMcList? pmc)
    {
        var recs = new List<(uint, byte)>();
        if (pmc is null)
        {
            foreach (var im in d.McList)
            {
                if (!Reportable(net, im.Multiaddr)) continue;
                AddGrec(net, recs, im, im.Users != 0 ? Igmpv3ModeIsExclude : Igmpv3ModeIsInclude, isquery: true);
            }
        }
        else
        {
            AddGrec(net, recs, pmc, pmc.Users != 0 ? Igmpv3ModeIsExclude : Igmpv3ModeIsInclude, isquery: true);
        }
        Igmpv3Sendpack(net, d, recs);
    }

    /// <summary>The state-change report: TO_IN for groups left (still in the tomb), TO_EX for groups joined, each qrv times.</summary>
    /// <remarks>Mirrors igmpv3_send_cr() (no source records: any-source memberships only).</remarks>
    private static void Igmpv3SendCr(NetNamespace net, InDeviceMc d)
    {
        var recs = new List<(uint, byte)>();
        // Deleted MCAs.
        for (int i = 0; i < d.McTomb.Count; i++)
        {
            var pmc = d.McTomb[i];
            if (pmc.Crcount != 0)
            {
                AddGrec(net, recs, pmc, Igmpv3ChangeToInclude, isquery: false);
                pmc.Crcount--;
            }
            if (pmc.Crcount == 0) d.McTomb.RemoveAt(i--);
        }
        // Change records: filter mode changes.
        foreach (var pmc in d.McList)
        {
            if (pmc.Crcount != 0)
            {
                AddGrec(net, recs, pmc, Igmpv3ChangeToExclude, isquery: false);
                pmc.Crcount--;
            }
        }
        Igmpv3Sendpack(net, d, recs);
    }

    // ------------------------------------------------------------------ device group list

    /// <remarks>Mirrors igmpv3_add_delrec(): a left group keeps being reported (TO_IN) from the tomb.</remarks>
    private static void Igmpv3AddDelrec(NetNamespace net, InDeviceMc d, IpMcList im)
    {
        var pmc = new IpMcList(d, im.Multiaddr) { Crcount = Qrv(net, d) };
        d.McTomb.Insert(0, pmc);
    }

    /// <remarks>Mirrors igmpv3_del_delrec(): a group joined again leaves the tomb.</remarks>
    private static void Igmpv3DelDelrec(NetNamespace net, InDeviceMc d, IpMcList im)
    {
        for (int i = 0; i < d.McTomb.Count; i++)
        {
            if (d.McTomb[i].Multiaddr != im.Multiaddr) continue;
            d.McTomb.RemoveAt(i);
            im.Crcount = Qrv(net, d);
            return;
        }
    }

    /// <remarks>Mirrors igmpv3_clear_delrec().</remarks>
    private static void Igmpv3ClearDelrec(InDeviceMc d) => d.McTomb.Clear();

    /// <remarks>Mirrors igmp_group_dropped().</remarks>
    private static void IgmpGroupDropped(NetNamespace net, IpMcList im)
    {
        var d = im.Interface;
        if (im.Loaded)
        {
            im.Loaded = false;
            if (!d.Dev.NoArp) d.Dev.DevMcDel(IpEthMcMap(im.Multiaddr)); // ip_mc_filter_del(): arp_mc_map() maps Ethernet only
        }
        if (!Reportable(net, im.Multiaddr)) return;
        bool reporter = im.Reporter;
        IgmpStopTimer(net, im);
        if (d.Dead) return;
        if (V1Seen(net, d)) return;
        if (V2Seen(net, d))
        {
            if (reporter) IgmpSendReport(net, d, im, IgmpHostLeaveMessage);
            return;
        }
        // IGMPv3
        Igmpv3AddDelrec(net, d, im);
        IgmpIfcEvent(net, d);
    }

    /// <remarks>Mirrors igmp_group_added().</remarks>
    private static void IgmpGroupAdded(NetNamespace net, IpMcList im)
    {
        var d = im.Interface;
        if (!im.Loaded)
        {
            im.Loaded = true;
            if (!d.Dev.NoArp) d.Dev.DevMcAdd(IpEthMcMap(im.Multiaddr)); // ip_mc_filter_add(): arp_mc_map() maps Ethernet only
        }
        if (!Reportable(net, im.Multiaddr)) return;
        if (d.Dead) return;
        im.UnsolicitCount = net.Ipv4.Sysctl.IgmpQrv;
        if (V1Seen(net, d) || V2Seen(net, d))
        {
            IgmpStartTimer(net, im, IgmpInitialReportDelay);
            return;
        }
        // else, v3: an any-source join is a filter mode change, IN() to EX().
        im.Crcount = Qrv(net, d);
        IgmpIfcEvent(net, d);
    }

    /// <summary>A socket joined <paramref name="addr"/> on the device: one more user, or a new group (filter, reports).</summary>
    /// <remarks>Mirrors ip_mc_inc_group() -> ____ip_mc_inc_group().</remarks>
    public static void IpMcIncGroup(NetNamespace net, InDeviceMc d, uint addr)
    {
        foreach (var m in d.McList)
        {
            if (m.Multiaddr != addr) continue;
            m.Users++;
            return;
        }
        var im = new IpMcList(d, addr) { Users = 1 };
        d.McList.Insert(0, im);
        Igmpv3DelDelrec(net, d, im);
        IgmpGroupAdded(net, im);
    }

    /// <summary>A socket left <paramref name="addr"/> on the device: the last one drops the group.</summary>
    /// <remarks>Mirrors ip_mc_dec_group() -> __ip_mc_dec_group().</remarks>
    public static void IpMcDecGroup(NetNamespace net, InDeviceMc d, uint addr)
    {
        for (int i = 0; i < d.McList.Count; i++)
        {
            var im = d.McList[i];
            if (im.Multiaddr != addr) continue;
            if (--im.Users == 0)
            {
                d.McList.RemoveAt(i);
                IgmpGroupDropped(net, im);
            }
            return;
        }
    }

    /// <summary>The device came up: it joins 224.0.0.1 and reports its groups again.</summary>
    /// <remarks>Mirrors ip_mc_init_dev() (first time) and ip_mc_up().</remarks>
    public static void IpMcUp(NetNamespace net, NetDevice dev)
    {
        if (!net.Ipv4.McDevs.TryGetValue(dev, out var d))
        {
            d = new InDeviceMc(dev);
            net.Ipv4.McDevs[dev] = d;
        }
        d.MrQrv = net.Ipv4.Sysctl.IgmpQrv;
        IpMcIncGroup(net, d, IgmpAllHosts);
        foreach (var pmc in d.McList.ToArray())
        {
            if (pmc.Multiaddr == IgmpAllHosts && pmc.Loaded) continue;
            Igmpv3DelDelrec(net, d, pmc);
            IgmpGroupAdded(net, pmc);
        }
    }

    /// <summary>The device went down: its groups are dropped from the filter (and reported left), the timers stop.</summary>
    /// <remarks>Mirrors ip_mc_down().</remarks>
    public static void IpMcDown(NetNamespace net, NetDevice dev)
    {
        if (InDevGet(net, dev) is not { } d) return;
        foreach (var pmc in d.McList) IgmpGroupDropped(net, pmc);
        d.IfcCount = 0;
        net.Timers.DelTimer(d.IfcTimer);
        d.GqRunning = false;
        net.Timers.DelTimer(d.GqTimer);
        IpMcDecGroup(net, d, IgmpAllHosts);
    }

    // ------------------------------------------------------------------ socket memberships

    /// <summary>
    /// The device a membership request names: by ifindex, else by the interface address, else the
    /// device the route to the group leaves by. Fills in the ifindex. Null when there is none.
    /// </summary>
    /// <remarks>Mirrors ip_mc_find_dev().</remarks>
    private static InDeviceMc? IpMcFindDev(NetNamespace net, uint multiaddr, uint address, ref int ifindex)
    {
        if (ifindex != 0)
            return DevGetByIndex(net, ifindex) is { } byIndex ? InDevGet(net, byIndex) : null;
        NetDevice? dev = null;
        if (address != 0)
        {
            dev = net.DevByAddress(address);
            if (dev is null) return null;
        }
        if (dev is null)
        {
            uint saddr = 0;
            if (Route.IpRouteOutputMc(net, multiaddr, ref saddr, 0, out var rt, count: false) == 0) dev = rt.Dev;
        }
        if (dev is null) return null;
        ifindex = dev.IfIndex;
        return InDevGet(net, dev);
    }

    /// <summary>IP_ADD_MEMBERSHIP: -EINVAL (not a group), -ENODEV (no such device), -EADDRINUSE (joined already), -ENOBUFS (igmp_max_memberships).</summary>
    /// <remarks>Mirrors ip_mc_join_group() -> __ip_mc_join_group().</remarks>
    public static int IpMcJoinGroup(InetSock inet, uint multiaddr, uint address, int ifindex)
    {
        var net = inet.Net;
        if (!Ipv4Address.IsMulticast(multiaddr)) return -Errno.EINVAL;
        var inDev = IpMcFindDev(net, multiaddr, address, ref ifindex);
        if (inDev is null) return -Errno.ENODEV;
        int count = 0;
        var list = inet.McList;
        if (list is not null)
        {
            foreach (var i in list)
            {
                if (i.Multiaddr == multiaddr && i.Ifindex == ifindex) return -Errno.EADDRINUSE;
                count++;
            }
        }
        if (count >= net.Ipv4.Sysctl.IgmpMaxMemberships) return -Errno.ENOBUFS;
        (inet.McList ??= new()).Insert(0, new IpMcSocklist(multiaddr, address, ifindex));
        IpMcIncGroup(net, inDev, multiaddr);
        return 0;
    }

    /// <summary>IP_DROP_MEMBERSHIP: -EADDRNOTAVAIL when the socket has no such membership, -ENODEV when nothing names a device.</summary>
    /// <remarks>Mirrors ip_mc_leave_group().</remarks>
    public static int IpMcLeaveGroup(InetSock inet, uint group, uint address, int ifindex)
    {
        var net = inet.Net;
        var inDev = IpMcFindDev(net, group, address, ref ifindex);
        if (ifindex == 0 && address == 0 && inDev is null) return -Errno.ENODEV;
        var list = inet.McList;
        if (list is null) return -Errno.EADDRNOTAVAIL;
        for (int n = 0; n < list.Count; n++)
        {
            var iml = list[n];
            if (iml.Multiaddr != group) continue;
            if (ifindex != 0)
            {
                if (iml.Ifindex != ifindex) continue;
            }
            else if (address != 0 && address != iml.Address) continue;
            list.RemoveAt(n);
            if (inDev is not null) IpMcDecGroup(net, inDev, group);
            return 0;
        }
        return -Errno.EADDRNOTAVAIL;
    }

    /// <summary>A closing socket leaves every group it joined.</summary>
    /// <remarks>Mirrors ip_mc_drop_socket().</remarks>
    public static void IpMcDropSocket(InetSock inet)
    {
        var list = inet.McList;
        if (list is null || list.Count == 0) return;
        var net = inet.Net;
        foreach (var iml in list)
        {
            if (DevGetByIndex(net, iml.Ifindex) is { } dev && InDevGet(net, dev) is { } d)
                IpMcDecGroup(net, d, iml.Multiaddr);
        }
        list.Clear();
    }

    /// <summary>
    /// Whether a datagram to <paramref name="locAddr"/> on <paramref name="dif"/> may reach the socket:
    /// always for a non-group destination; for a group, a membership on that device lets it in (an
    /// any-source join excludes no source), and without one IP_MULTICAST_ALL decides. Allocation-free.
    /// </summary>
    /// <remarks>Mirrors ip_mc_sf_allow().</remarks>
    public static bool IpMcSfAllow(InetSock inet, uint locAddr, uint rmtAddr, int dif)
    {
        if (!Ipv4Address.IsMulticast(locAddr)) return true;
        var list = inet.McList;
        if (list is not null)
        {
            for (int i = 0; i < list.Count; i++)
                if (list[i].Multiaddr == locAddr && list[i].Ifindex == dif)
                    return list[i].Sfmode == McastExclude;
        }
        return inet.McAll;
    }

    /// <summary>Whether this host is a member of <paramref name="mcAddr"/> on <paramref name="dev"/> (an IGMP packet for a group joined, any source). Allocation-free.</summary>
    /// <remarks>Mirrors ip_check_mc_rcu() (no source filters: a joined group accepts every source).</remarks>
    public static bool IpCheckMc(NetNamespace net, NetDevice dev, uint mcAddr)
    {
        if (!net.Ipv4.McDevs.TryGetValue(dev, out var d)) return false;
        var list = d.McList;
        for (int i = 0; i < list.Count; i++) if (list[i].Multiaddr == mcAddr) return true;
        return false;
    }

    // ------------------------------------------------------------------ input

    /// <summary>The IGMP protocol handler: queries start report timers, others' reports stop ours.</summary>
    /// <remarks>Mirrors igmp_rcv().</remarks>
    public static int IgmpRcv(SkBuff skb)
    {
        var dev = skb.Dev!;
        var net = dev.Net!;
        int len = skb.Len;
        var d = InDevGet(net, dev);
        if (d is null || len < 8 || Checksum.Compute(skb.DataSpan) != 0)
            return net.KfreeSkbReason(skb, SkbDropReason.NotSpecified);
        var ih = skb.DataSpan;
        switch (ih[0])
        {
            case IgmpHostMembershipQuery:
                IgmpHeardQuery(net, d, ih, len);
                break;
            case IgmpHostMembershipReport:
            case Igmpv2HostMembershipReport:
                // Is it our report looped back?
                if (skb.RouteOutput) break;
                // Don't rely on MC router hearing unicast reports.
                if (skb.PktType is Ethernet.Eth.PacketMulticast or Ethernet.Eth.PacketBroadcast)
                    IgmpHeardReport(net, d, BinaryPrimitives.ReadUInt32BigEndian(ih[4..]));
                break;
        }
        skb.Free();
        return Dev.NetRxSuccess;
    }

    /// <remarks>Mirrors igmp_heard_report(): another member reported, so this host need not (v1/v2 suppression).</remarks>
    private static void IgmpHeardReport(NetNamespace net, InDeviceMc d, uint group)
    {
        if (!Reportable(net, group)) return;
        foreach (var im in d.McList)
        {
            if (im.Multiaddr != group) continue;
            IgmpStopTimer(net, im);
            break;
        }
    }

    /// <summary>IGMPV3_MRC(): Max Resp Code to tenths of a second (exponential above 127).</summary>
    private static int Igmpv3Mrc(int value) => value < 128 ? value : ((value & 0x0F) | 0x10) << (((value >> 4) & 7) + 3);

    /// <remarks>Mirrors igmp_heard_query().</remarks>
    private static void IgmpHeardQuery(NetNamespace net, InDeviceMc d, ReadOnlySpan<byte> ih, int len)
    {
        uint group = BinaryPrimitives.ReadUInt32BigEndian(ih[4..]);
        int maxDelay;
        long now = Jiffies(net);
        if (len == 8)
        {
            if (ih[1] == 0)
            {
                // Alas, old v1 router presents here.
                maxDelay = IgmpQueryResponseInterval;
                d.MrV1Seen = now + d.MrQrv * d.MrQi + d.MrQri;
                group = 0;
            }
            else
            {
                // v2 router present.
                maxDelay = ih[1] * (Hz / IgmpTimerScale);
                d.MrV2Seen = now + d.MrQrv * d.MrQi + d.MrQri;
            }
            // Cancel the interface change timer, clear deleted report items.
            d.IfcCount = 0;
            net.Timers.DelTimer(d.IfcTimer);
            Igmpv3ClearDelrec(d);
        }
        else if (len < 12)
        {
            return; // ignore bogus packet
        }
        else if (V1Seen(net, d))
        {
            // A v3 query with v1 queriers present.
            maxDelay = IgmpQueryResponseInterval;
            group = 0;
        }
        else if (V2Seen(net, d))
        {
            // A v3 query with v2 queriers present: the v3 encoding of Max Resp Code.
            maxDelay = Igmpv3Mrc(ih[1]) * (Hz / IgmpTimerScale);
            if (maxDelay == 0) maxDelay = 1;
        }
        else
        {
            // v3
            int nsrcs = BinaryPrimitives.ReadUInt16BigEndian(ih[10..]);
            if (len < 12 + 4 * nsrcs) return;
            maxDelay = Igmpv3Mrc(ih[1]) * (Hz / IgmpTimerScale);
            if (maxDelay == 0) maxDelay = 1; // can't mod w/ 0
            d.MrMaxdelay = maxDelay;
            // RFC 3376 4.1.6/4.1.7: QRV and QQIC, the defaults when the query says 0.
            int qrv = ih[8] & 7;
            if (qrv != 0) d.MrQrv = qrv;
            int qqic = ih[9];
            int qi = qqic < 128 ? qqic : ((qqic & 0x0F) | 0x10) << (((qqic >> 4) & 7) + 3);
            d.MrQi = qi != 0 ? qi * Hz : IgmpQueryInterval;
            d.MrQri = Math.Max(maxDelay, 1);
            if (group == 0)
            {
                // General query: one report of everything; no sources allowed.
                if (nsrcs != 0) return;
                IgmpGqStartTimer(net, d);
                return;
            }
            // A group-and-source query names sources; any-source memberships answer it as a group query.
        }
        // Start the timers of the memberships the query applies to, excluding 224.0.0.1 (and
        // link-local groups without igmp_link_local_mcast_reports); a running timer that fires sooner stays.
        foreach (var im in d.McList)
        {
            if (group != 0 && group != im.Multiaddr) continue;
            if (!Reportable(net, im.Multiaddr)) continue;
            im.Gsquery = false;
            IgmpModTimer(net, im, maxDelay);
        }
    }
}
