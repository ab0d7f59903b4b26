using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Wire;

namespace NetStack.Ipv6;

/// <summary>
/// A group a device listens to: its users (kernel memberships and sockets alike) and the MLD state
/// of its reports. Any-source memberships only, so the filter mode is always EXCLUDE{}.
/// </summary>
/// <remarks>Mirrors include/net/if_inet6.h: struct ifmcaddr6 (mca_addr, mca_users, mca_work, mca_flags, mca_crcount).</remarks>
internal sealed class Ifmcaddr6
{
    public Ifmcaddr6(Inet6Dev idev, UInt128 addr)
    {
        Idev = idev;
        McaAddr = addr;
        Timer = new TimerList(Mcast.Igmp6TimerHandler, this);
        // mca_alloc(): no reports for all-nodes, nor for groups narrower than the link.
        NoReport = addr == Ipv6Address.AllNodes || Ipv6Address.MulticastScope(addr) < 2;
    }
    /// <summary>idev.</summary>
    public readonly Inet6Dev Idev;
    /// <summary>mca_addr.</summary>
    public readonly UInt128 McaAddr;
    /// <summary>The group (mca_addr), as the socket tools print it.</summary>
    public UInt128 Group => McaAddr;
    /// <summary>mca_users.</summary>
    public int Users;
    /// <summary>mca_work: the report answering a group-specific query.</summary>
    public readonly TimerList Timer;
    /// <summary>MAF_TIMER_RUNNING, MAF_NOREPORT, MAF_LOADED, MAF_LAST_REPORTER (an MLDv1 Done is ours to send).</summary>
    public bool TimerRunning, NoReport, Loaded, LastReporter;
    /// <summary>mca_crcount: state-change records still to send.</summary>
    public int Crcount;
}

/// <summary>
/// Multicast listener discovery, version 2 (RFC 3810), host side: the groups of a device and their
/// link-layer filter, unsolicited state-change reports on join and leave (robustness-variable
/// times), current-state reports answering general and group-specific queries within the query's
/// maximum response delay, and MLDv1 report suppression.
/// <para>MLDv1 compatibility (RFC 3810 8): an MLDv1 query (exactly 24 bytes) puts the device in
/// MLDv1 mode for the Older Version Querier Present Timeout (robustness variable x query interval +
/// query response interval); meanwhile groups are reported with MLDv1 reports (type 131, to the
/// group) and left with a Done (type 132, to ff02::2) by the last reporter, and no MLDv2
/// state-change report goes out. net.ipv6.conf.*.force_mld_version is not modelled (0).</para>
/// </summary>
/// <remarks>Mirrors net/ipv6/mcast.c (the device half; source filters and socket joins are not modelled).</remarks>
internal static class Mcast
{
    /// <summary>MLDv2 record types (include/net/mld.h).</summary>
    public const byte Mld2ModeIsInclude = 1, Mld2ModeIsExclude = 2, Mld2ChangeToInclude = 3, Mld2ChangeToExclude = 4;
    /// <summary>Jiffies at Debian's HZ=250, as <see cref="Ipv4.Igmp"/> counts them.</summary>
    private const long JiffyNs = 1_000_000_000L / Ipv4.Igmp.Hz;
    /// <summary>The hop-by-hop header every MLD message carries: next header ICMPv6, router alert 0 (MLD), PadN.</summary>
    private static ReadOnlySpan<byte> RaHbh => [NextHdr.Icmp, 0, 5, 2, 0, 0, 1, 0];
    private const int GrecLen = 20, Mld2HdrLen = 8, MldHbhLen = 8, Mld1Len = 24;

    private static int Qrv(Inet6Dev idev) => idev.McQrv;

    /// <summary>conf.*.mldv1_unsolicited_report_interval's default (10 s; not a sysctl here).</summary>
    private const int Mldv1UnsolicitedReportIntervalMs = 10_000;

    /// <summary>Whether an MLDv1 querier was heard within the Older Version Querier Present Timeout.</summary>
    /// <remarks>Mirrors mld_in_v1_mode() (force_mld_version 0: neither v1 nor v2 only).</remarks>
    internal static bool MldInV1Mode(NetNamespace net, Inet6Dev idev) =>
        idev.McV1SeenNs != 0 && net.Clock.NowNs < idev.McV1SeenNs;

    /// <remarks>Mirrors unsolicited_report_interval() (mldv1_ or mldv2_unsolicited_report_interval by the mode), in jiffies.</remarks>
    private static long UnsolicitedReportInterval(NetNamespace net, Inet6Dev idev) =>
        Math.Max(1, Time.Ms(MldInV1Mode(net, idev) ? Mldv1UnsolicitedReportIntervalMs : net.Ipv6.Sysctl.Mldv2UnsolicitedReportIntervalMs) / JiffyNs);

    /// <summary>Arms <paramref name="t"/> a random number of jiffies below <paramref name="delay"/>, plus 2, from now.</summary>
    private static void StartWork(NetNamespace net, TimerList t, long delay) =>
        net.Timers.ModTimer(t, net.Clock.NowNs + (Random.Shared.NextInt64(Math.Max(delay, 1)) + 2) * JiffyNs);

    /// <summary>Joins <paramref name="group"/> on the device, or counts one more user.</summary>
    /// <remarks>Mirrors __ipv6_dev_mc_inc(): mca_alloc(), mld_del_delrec(), igmp6_group_added().</remarks>
    internal static void Ipv6DevMcInc(Inet6Dev idev, UInt128 group)
    {
        foreach (var m in idev.McList)
            if (m.McaAddr == group) { m.Users++; return; }
        var mc = new Ifmcaddr6(idev, group) { Users = 1 };
        idev.McList = [.. idev.McList, mc];
        idev.McTomb.RemoveAll(t => t.McaAddr == group); // mld_del_delrec(): a pending leave is void
        Igmp6GroupAdded(mc);
    }

    /// <summary>One user less of <paramref name="group"/>; the last one leaves it. False: not joined.</summary>
    /// <remarks>Mirrors __ipv6_dev_mc_dec() -> igmp6_group_dropped().</remarks>
    internal static bool Ipv6DevMcDec(Inet6Dev idev, UInt128 group)
    {
        var list = idev.McList;
        for (int i = 0; i < list.Length; i++)
        {
            var mc = list[i];
            if (mc.McaAddr != group) continue;
            if (--mc.Users == 0)
            {
                idev.McList = [.. list[..i], .. list[(i + 1)..]];
                Igmp6GroupDropped(mc);
            }
            return true;
        }
        return false;
    }

    /// <remarks>Mirrors igmp6_group_added(): the MAC into the filter, then (v2) a state change reported robustness-variable times.</remarks>
    private static void Igmp6GroupAdded(Ifmcaddr6 mc)
    {
        var dev = mc.Idev.Dev;
        if (Ipv6Address.MulticastScope(mc.McaAddr) < 2) return; // IPV6_ADDR_SCOPE_LINKLOCAL
        if (!mc.Loaded)
        {
            mc.Loaded = true;
            if (!dev.IsLoopback) dev.DevMcAdd(Ipv6Address.EthMcMap(mc.McaAddr));
        }
        if (!dev.IsUp || mc.NoReport || dev.Net is not { } net) return;
        if (MldInV1Mode(net, mc.Idev))
        {
            Igmp6JoinGroup(net, mc);
            return;
        }
        mc.Crcount = Qrv(mc.Idev);
        MldIfcEvent(net, mc.Idev);
    }

    /// <summary>MLDv1 join: a report now, and another within the unsolicited report interval (unless one is due sooner).</summary>
    /// <remarks>Mirrors igmp6_join_group().</remarks>
    private static void Igmp6JoinGroup(NetNamespace net, Ifmcaddr6 ma)
    {
        if (ma.NoReport) return;
        Igmp6Send(net, ma.Idev, ma.McaAddr, Icmpv6Type.MgmReport);
        long expires = net.Clock.NowNs + Random.Shared.NextInt64(UnsolicitedReportInterval(net, ma.Idev)) * JiffyNs;
        if (net.Timers.DelTimer(ma.Timer)) expires = ma.Timer.Expires; // cancel_delayed_work(): the pending one's time stays
        net.Timers.ModTimer(ma.Timer, expires);
        ma.TimerRunning = true;
        ma.LastReporter = true;
    }

    /// <remarks>Mirrors igmp6_group_dropped(): the MAC out of the filter, then (v2) the leave recorded in the tomb and reported.</remarks>
    private static void Igmp6GroupDropped(Ifmcaddr6 mc)
    {
        var dev = mc.Idev.Dev;
        if (Ipv6Address.MulticastScope(mc.McaAddr) < 2) return;
        if (mc.Loaded)
        {
            mc.Loaded = false;
            if (!dev.IsLoopback) dev.DevMcDel(Ipv6Address.EthMcMap(mc.McaAddr));
        }
        if (dev.Net is not { } net) return;
        net.Timers.DelTimer(mc.Timer);
        mc.TimerRunning = false;
        if (mc.NoReport || !dev.IsUp) return;
        // igmp6_leave_group(): an MLDv1 Done from the last reporter, else the MLDv2 state change.
        if (MldInV1Mode(net, mc.Idev))
        {
            if (mc.LastReporter) Igmp6Send(net, mc.Idev, mc.McaAddr, Icmpv6Type.MgmReduction);
            return;
        }
        // mld_add_delrec(): the group goes to the tomb to report TO_IN{} qrv times.
        mc.Crcount = Qrv(mc.Idev);
        mc.Idev.McTomb.Add(mc);
        MldIfcEvent(net, mc.Idev);
    }

    /// <remarks>Mirrors mld_ifc_event(): qrv rounds of state-change reports, the first two jiffies from now.</remarks>
    private static void MldIfcEvent(NetNamespace net, Inet6Dev idev)
    {
        if (!net.Ipv6.Sysctl.MldReports) return;
        idev.McIfcCount = Qrv(idev);
        StartWork(net, idev.McIfcTimer, 1);
    }

    /// <remarks>Mirrors mld_ifc_work().</remarks>
    internal static void MldIfcWork(TimerList t)
    {
        var idev = (Inet6Dev)t.Owner!;
        if (idev.Dev.Net is not { } net) return;
        MldSendCr(net, idev);
        if (idev.McIfcCount > 0 && --idev.McIfcCount > 0)
            StartWork(net, idev.McIfcTimer, UnsolicitedReportInterval(net, idev));
    }

    /// <summary>
    /// The link-local address became usable: the reports sent from :: during DAD are sent again
    /// from it, robustness-variable times.
    /// </summary>
    /// <remarks>Mirrors ipv6_mc_dad_complete() -> mld_send_initial_cr(), mld_dad_start_work().</remarks>
    internal static void Ipv6McDadComplete(NetNamespace net, Inet6Dev idev)
    {
        if (!net.Ipv6.Sysctl.MldReports) return;
        idev.McDadCount = Qrv(idev);
        if (idev.McDadCount == 0) return;
        MldSendInitialCr(net, idev);
        if (--idev.McDadCount > 0) StartWork(net, idev.McDadTimer, UnsolicitedReportInterval(net, idev));
    }

    /// <remarks>Mirrors mld_dad_work().</remarks>
    internal static void MldDadWork(TimerList t)
    {
        var idev = (Inet6Dev)t.Owner!;
        if (idev.Dev.Net is not { } net) return;
        MldSendInitialCr(net, idev);
        if (idev.McDadCount > 0 && --idev.McDadCount > 0) StartWork(net, idev.McDadTimer, UnsolicitedReportInterval(net, idev));
    }

    /// <remarks>Mirrors mld_send_initial_cr(): TO_EX{} for every reported group (none in MLDv1 mode).</remarks>
    private static void MldSendInitialCr(NetNamespace net, Inet6Dev idev)
    {
        if (MldInV1Mode(net, idev)) return;
        var pack = new MldPack(net, idev);
        foreach (var mc in idev.McList) if (!mc.NoReport) pack.AddGrec(mc.McaAddr, Mld2ChangeToExclude);
        pack.Send();
    }

    /// <summary>State-change records: TO_IN{} for the groups left (the tomb), TO_EX{} for the groups joined, each while its crcount lasts.</summary>
    /// <remarks>Mirrors mld_send_cr().</remarks>
    private static void MldSendCr(NetNamespace net, Inet6Dev idev)
    {
        var pack = new MldPack(net, idev);
        var tomb = idev.McTomb;
        for (int i = tomb.Count - 1; i >= 0; i--)
        {
            var pmc = tomb[i];
            if (pmc.Crcount > 0)
            {
                pack.AddGrec(pmc.McaAddr, Mld2ChangeToInclude);
                pmc.Crcount--;
            }
            if (pmc.Crcount <= 0) tomb.RemoveAt(i);
        }
        foreach (var mc in idev.McList)
        {
            if (mc.NoReport || mc.Crcount <= 0) continue;
            pack.AddGrec(mc.McaAddr, Mld2ChangeToExclude);
            mc.Crcount--;
        }
        pack.Send();
    }

    /// <summary>Current-state records (IS_EX{}): of every reported group (<paramref name="pmc"/> null, a general query) or of one.</summary>
    /// <remarks>Mirrors mld_send_report().</remarks>
    private static void MldSendReport(NetNamespace net, Inet6Dev idev, Ifmcaddr6? pmc)
    {
        var pack = new MldPack(net, idev);
        if (pmc is null)
        {
            foreach (var mc in idev.McList) if (!mc.NoReport) pack.AddGrec(mc.McaAddr, Mld2ModeIsExclude);
        }
        else if (!pmc.NoReport) pack.AddGrec(pmc.McaAddr, Mld2ModeIsExclude);
        pack.Send();
    }

    /// <summary>
    /// An MLDv2 report being filled: records go straight into the packet, which is sent when the
    /// MTU allows no more (and a new one begun) or at <see cref="Send"/>. To ff02::16 with hop limit
    /// 1 and a router alert, from the device's link-local address, or from :: while it is tentative.
    /// Allocates nothing but the packet buffers.
    /// </summary>
    /// <remarks>Mirrors mld_newpack() (ip6_mc_hdr(), the router alert hop-by-hop option) + add_grhead() + mld_sendpack().</remarks>
    private ref struct MldPack(NetNamespace net, Inet6Dev idev)
    {
        private SkBuff? _skb;
        private int _n;

        public void AddGrec(UInt128 group, byte type)
        {
            if (!net.Ipv6.Sysctl.MldReports) return;
            if (_skb is null)
            {
                _skb = net.SkbPool.AllocWithHeadroom();
                if (_skb is null) { net.Mib.Drops[SkbDropReason.NoBuffers]++; return; }
                var h = _skb.Put(MldHbhLen + Mld2HdrLen);
                h.Clear();
                RaHbh.CopyTo(h);
                h[MldHbhLen] = Icmpv6Type.Mld2Report;
                _n = 0;
            }
            var g = _skb.Put(GrecLen);
            g.Clear();
            g[0] = type; // grec_type; aux len and number of sources stay 0
            Ipv6Address.Write(g[4..], group);
            _n++;
            int max = Math.Max(1, (Addrconf.Ip6DevMtu(net, idev.Dev) - Ipv6Header.Length - MldHbhLen - Mld2HdrLen) / GrecLen);
            if (_n >= max || _skb.Tailroom < GrecLen) Send();
        }

        public void Send()
        {
            var skb = _skb;
            if (skb is null) return;
            _skb = null;
            UInt128 saddr = Addrconf.Ipv6GetLladdr(net, idev.Dev) ?? Ipv6Address.Any;
            UInt128 daddr = Ipv6Address.AllMldv2Routers;
            var msg = skb.DataSpan[MldHbhLen..];
            BinaryPrimitives.WriteUInt16BigEndian(msg[6..], (ushort)_n);
            Icmpv6Header.Create(msg).FillChecksum(saddr, daddr);
            var mib = net.Ipv6.Icmp6Stats;
            mib[Icmp6Mib.Icmp6OutMsgs]++;
            mib[Icmp6Mib.Icmp6OutMLDv2Reports]++;
            Ip6Output.Ip6Xmit(net, skb, idev.OnLink, saddr, daddr, NextHdr.Hop, 1);
        }
    }

    /// <summary>A group's report timer fired: an MLDv1 report in MLDv1 mode, else its current state (answering a group-specific query).</summary>
    /// <remarks>Mirrors mld_mca_work() (igmp6_send(ICMPV6_MGM_REPORT) or mld_send_report(); MAF_LAST_REPORTER set).</remarks>
    internal static void Igmp6TimerHandler(TimerList t)
    {
        var mc = (Ifmcaddr6)t.Owner!;
        if (mc.Idev.Dev.Net is not { } net) return;
        if (MldInV1Mode(net, mc.Idev)) Igmp6Send(net, mc.Idev, mc.McaAddr, Icmpv6Type.MgmReport);
        else MldSendReport(net, mc.Idev, mc);
        mc.LastReporter = true;
        mc.TimerRunning = false;
    }

    /// <summary>
    /// An MLDv1 message (RFC 2710 3): the 24-byte report (to the group) or Done (to ff02::2), behind
    /// the router alert hop-by-hop header, hop limit 1, from the link-local address (:: while it is
    /// tentative). Counted Icmp6OutGroupMembResponses / Icmp6OutGroupMembReductions.
    /// </summary>
    /// <remarks>Mirrors igmp6_send().</remarks>
    private static void Igmp6Send(NetNamespace net, Inet6Dev idev, UInt128 group, byte type)
    {
        if (!net.Ipv6.Sysctl.MldReports) return;
        var skb = net.SkbPool.AllocWithHeadroom();
        if (skb is null) { net.Mib.Drops[SkbDropReason.NoBuffers]++; return; }
        UInt128 daddr = type == Icmpv6Type.MgmReduction ? Ipv6Address.AllRouters : group;
        UInt128 saddr = Addrconf.Ipv6GetLladdr(net, idev.Dev) ?? Ipv6Address.Any;
        var h = skb.Put(MldHbhLen + Mld1Len);
        h.Clear();
        RaHbh.CopyTo(h);
        var msg = h[MldHbhLen..];
        msg[0] = type;
        Ipv6Address.Write(msg[8..], group); // mld_mca; the maximum response delay stays 0
        Icmpv6Header.Create(msg).FillChecksum(saddr, daddr);
        var mib = net.Ipv6.Icmp6Stats;
        mib[type == Icmpv6Type.MgmReduction ? Icmp6Mib.Icmp6OutGroupMembReductions : Icmp6Mib.Icmp6OutGroupMembResponses]++;
        mib[Icmp6Mib.Icmp6OutMsgs]++;
        Ip6Output.Ip6Xmit(net, skb, idev.OnLink, saddr, daddr, NextHdr.Hop, 1);
    }

    /// <remarks>Mirrors mld_gq_work(): the answer to a general query.</remarks>
    internal static void MldGqWork(TimerList t)
    {
        var idev = (Inet6Dev)t.Owner!;
        if (idev.Dev.Net is not { } net) return;
        idev.McGqRunning = false;
        MldSendReport(net, idev, null);
    }

    /// <summary>The Maximum Response Code of an MLDv2 query in milliseconds (RFC 3810 5.1.3: exponential above 32767).</summary>
    /// <remarks>Mirrors mldv2_mrc().</remarks>
    internal static long Mldv2Mrc(ushort mrc) =>
        mrc < 32768 ? mrc : (long)((mrc & 0x0fff) | 0x1000) << (((mrc >> 12) & 7) + 3);

    /// <summary>
    /// A multicast listener query (Data at its ICMPv6 header, checksum verified). RFC 3810 6.2's
    /// checks first: a link-local source, hop limit 1 and the MLD router alert, or it is dropped;
    /// then the robustness variable and delay it gives, and a report timer: the device's for a
    /// general query, the group's for a group-specific one. Returns 0 or the drop reason.
    /// </summary>
    /// <remarks>Mirrors igmp6_event_query() -> __mld_query_work() (MLDv2 queries; mld_update_qrv()).</remarks>
    internal static SkbDropReason Igmp6EventQuery(NetNamespace net, SkBuff skb)
    {
        var ip6 = Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length));
        var msg = skb.DataSpan;
        if (msg.Length < 24) return SkbDropReason.PktTooSmall; // sizeof(struct mld_msg)
        if (!Ipv6Address.IsLinkLocal(ip6.Source) || ip6.HopLimit != 1 || !HasMldRouterAlert(skb))
            return SkbDropReason.NotSpecified;
        if (Addrconf.In6DevGet(net, skb.Dev!) is not { } idev) return SkbDropReason.NotSpecified;
        var group = Ipv6Address.Read(msg[8..]);
        if (group != 0 && !Ipv6Address.IsMulticast(group)) return SkbDropReason.NotSpecified;
        if (msg.Length == Mld1Len)
        {
            if (!net.Ipv6.Sysctl.MldReports) return 0;
            long v1Delay = MldProcessV1(net, idev, BinaryPrimitives.ReadUInt16BigEndian(msg[4..]));
            // An MLDv1 general query starts every group's report timer (no device-wide answer in v1).
            if (group == 0)
                foreach (var mc in idev.McList) Igmp6GroupQueried(net, mc, v1Delay);
            else
                foreach (var mc in idev.McList)
                    if (mc.McaAddr == group) { Igmp6GroupQueried(net, mc, v1Delay); break; }
            return 0;
        }
        if (msg.Length < 28) return SkbDropReason.NotSpecified; // sizeof(struct mld2_query)
        if (!net.Ipv6.Sysctl.MldReports) return 0;
        // mld_process_v2()
        ushort mrc = BinaryPrimitives.ReadUInt16BigEndian(msg[4..]);
        long maxDelay = Math.Max(Time.Ms(Mldv2Mrc(mrc)) / JiffyNs, 1);
        int qrv = msg[24] & 7;
        if (qrv != 0) idev.McQrv = qrv; // mld_update_qrv()
        idev.McQiNs = Mldv2Qqi(msg[25]) * 1_000_000_000L; // mld_update_qi()
        idev.McQriNs = Time.Ms(Mldv2Mrc(mrc)); // mld_update_qri()
        idev.McMaxdelay = maxDelay;
        int nsrcs = BinaryPrimitives.ReadUInt16BigEndian(msg[26..]);
        if (group == 0)
        {
            if (nsrcs != 0) return SkbDropReason.NotSpecified; // a general query names no sources
            // mld_gq_start_work(): a pending answer that comes sooner stays.
            long exp = net.Clock.NowNs + (Random.Shared.NextInt64(maxDelay) + 2) * JiffyNs;
            if (idev.McGqRunning && idev.McGqTimer.Pending && idev.McGqTimer.Expires <= exp) return 0;
            idev.McGqRunning = true;
            net.Timers.ModTimer(idev.McGqTimer, exp);
            return 0;
        }
        foreach (var mc in idev.McList)
            if (mc.McaAddr == group) { Igmp6GroupQueried(net, mc, maxDelay); break; }
        return 0;
    }

    /// <summary>
    /// An MLDv1 query: its Maximum Response Delay (ms) as the report delay, MLDv1 mode until the
    /// Older Version Querier Present Timeout, and the MLDv2 work stopped (the answer to a general
    /// query, the state-change rounds, the groups left still to report). Returns the delay in jiffies.
    /// </summary>
    /// <remarks>Mirrors mld_process_v1() with mld_set_v1_mode(), mld_gq_stop_work(), mld_ifc_stop_work(), mld_clear_delrec().</remarks>
    private static long MldProcessV1(NetNamespace net, Inet6Dev idev, ushort maxdelayMs)
    {
        long maxDelay = Math.Max(Time.Ms(maxdelayMs) / JiffyNs, 1);
        // RFC 3810 9.12: Older Version Querier Present Timeout = robustness variable x query interval + query response interval.
        idev.McV1SeenNs = net.Clock.NowNs + idev.McQrv * idev.McQiNs + idev.McQriNs;
        net.Timers.DelTimer(idev.McGqTimer);
        idev.McGqRunning = false;
        net.Timers.DelTimer(idev.McIfcTimer);
        idev.McIfcCount = 0;
        idev.McTomb.Clear();
        return maxDelay;
    }

    /// <summary>The Querier's Query Interval Code of an MLDv2 query in seconds (RFC 3810 5.1.9: exponential from 128).</summary>
    /// <remarks>As mld_update_qi() decodes it (MLDV2_QQIC_EXP / MLDV2_QQIC_MAN).</remarks>
    internal static long Mldv2Qqi(byte qqic) =>
        qqic < 128 ? qqic : (long)((qqic & 0xf) | 0x10) << (((qqic >> 4) & 7) + 3);

    /// <remarks>Mirrors igmp6_group_queried(): a report within the delay, unless one is due sooner.</remarks>
    private static void Igmp6GroupQueried(NetNamespace net, Ifmcaddr6 mc, long maxDelay)
    {
        if (mc.NoReport) return;
        long exp = net.Clock.NowNs + (Random.Shared.NextInt64(maxDelay) + 2) * JiffyNs;
        if (mc.TimerRunning && mc.Timer.Pending && mc.Timer.Expires <= exp) return;
        mc.TimerRunning = true;
        net.Timers.ModTimer(mc.Timer, exp);
    }

    /// <summary>An MLDv1 report of another listener: our pending report for that group is suppressed.</summary>
    /// <remarks>Mirrors igmp6_event_report() -> __mld_report_work().</remarks>
    internal static SkbDropReason Igmp6EventReport(NetNamespace net, SkBuff skb)
    {
        if (skb.PktType == Eth.PacketLoopback) return 0;
        if (skb.PktType != Eth.PacketMulticast && skb.PktType != Eth.PacketBroadcast) return 0;
        var msg = skb.DataSpan;
        if (msg.Length < 24) return SkbDropReason.PktTooSmall;
        var ip6 = Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length));
        if (ip6.Source != Ipv6Address.Any && !Ipv6Address.IsLinkLocal(ip6.Source)) return SkbDropReason.NotSpecified;
        if (Addrconf.In6DevGet(net, skb.Dev!) is not { } idev) return SkbDropReason.NotSpecified;
        var group = Ipv6Address.Read(msg[8..]);
        foreach (var mc in idev.McList)
        {
            if (mc.McaAddr != group) continue;
            if (net.Timers.DelTimer(mc.Timer)) { }
            mc.TimerRunning = false;
            mc.LastReporter = false; // another listener reported it: the Done is not ours
            break;
        }
        return 0;
    }

    /// <summary>Whether the packet's hop-by-hop header carried a router alert with value 0 (MLD).</summary>
    /// <remarks>As __mld_query_work() checks IP6SKB_ROUTERALERT and IP6CB(skb)->ra == IPV6_OPT_ROUTERALERT_MLD.</remarks>
    private static bool HasMldRouterAlert(SkBuff skb)
    {
        int ra = skb.Ip6cb.Ra;
        if (ra == 0) return false;
        int at = skb.NetworkHeader + ra;
        return at + 4 <= skb.Tail && BinaryPrimitives.ReadUInt16BigEndian(skb.Buffer.AsSpan(at + 2)) == 0;
    }

    /// <summary>Stops the device's MLD work (the device goes down or away).</summary>
    /// <remarks>Mirrors ipv6_mc_down(): the query, state-change and DAD report work cancelled.</remarks>
    internal static void Ipv6McDown(NetNamespace net, Inet6Dev idev)
    {
        net.Timers.DelTimer(idev.McGqTimer);
        net.Timers.DelTimer(idev.McIfcTimer);
        net.Timers.DelTimer(idev.McDadTimer);
        idev.McGqRunning = false;
        foreach (var mc in idev.McList) { net.Timers.DelTimer(mc.Timer); mc.TimerRunning = false; }
        idev.McTomb.Clear();
        // ipv6_mc_reset() (on the way up again in Linux): back to MLDv2 and the default querier timers.
        idev.McV1SeenNs = 0;
        idev.McQiNs = 125L * 1_000_000_000;
        idev.McQriNs = 10L * 1_000_000_000;
    }
}
