using System.Globalization;
using System.Text.Json;
using NetStack.Api;
using NetStack.Core;
using NetStack.Ipv4;

namespace NetStack.PeerTests;

/// <summary>
/// Floods from the kernel side of a test namespace, each for at least 20 s at the highest rate the
/// sender reaches (hping3 --flood, or flood_peer.py's raw socket where hping3 cannot draw the
/// numbers): the stack stays correct, counts what Linux counts, answers only as much as Linux's
/// rate limits let it, and its managed heap stays within <see cref="FloodKit.HeapGrowthBound"/>.
/// Rates are reported, never asserted. The SYN flood is <see cref="SynFloodPeerTests"/>.
/// </summary>
public sealed class FloodPeerTests(ITestOutputHelper output)
{
    private const int BulkPort = 9000, ListenPort = 8082, UdpPort = 9999;

    private static string I(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// RSTs with uniformly random sequence numbers aimed at the 4-tuple of a connection moving
    /// 200 MB: out-of-window ones are dropped, in-window ones get a challenge ACK (RFC 5961 3.2),
    /// limited per socket by tcp_invalid_ratelimit and per namespace by tcp_challenge_ack_limit, and
    /// the transfer completes intact; the connection, ESTABLISHED through the whole flood, then
    /// carries the stack's hash back to the kernel. A RST whose sequence is exactly rcv_nxt would reset the
    /// connection, as in Linux: with 2^17 distinct random values the chance is about 10^-4 per run.
    /// </summary>
    [PeerFact]
    public void RstFloodWithRandomSequenceNumbers_EstablishedTransferSurvives_ChallengeAcksRateLimited()
    {
        using var peer = TcpPeerKit.NewPeer(Impairment.None);
        using var bulk = new FloodKit.BulkTransfer(peer, BulkPort);
        var mib = peer.Net.Mib;
        long resets0 = mib.Tcp.Get("EstabResets"), chal0 = mib.TcpExt.Get("TCPChallengeACK"), inSegs0 = mib.Tcp.Get("InSegs");
        // The sender stops by itself 30 s after it starts, should the test die before killing it.
        string secs = (FloodKit.FloodTime.TotalSeconds + 30).ToString(CultureInfo.InvariantCulture);
        var report = FloodKit.Run(peer, FloodKit.FloodTime,
            ["/usr/bin/python3", "-u", FloodKit.PeerScript, "rst-flood", peer.KernelIp, peer.StackIp,
             bulk.KernelPort.ToString(CultureInfo.InvariantCulture), BulkPort.ToString(CultureInfo.InvariantCulture), secs, "3"],
            during: sw =>
            {
                Thread.Sleep(2000);
                bulk.Go();
            },
            readyText: "flooding");
        bool doneInFlood = bulk.Done;
        var (received, stackSha, kernelSha, seconds) = bulk.Finish(TimeSpan.FromSeconds(180));
        long resets = mib.Tcp.Get("EstabResets") - resets0, chal = mib.TcpExt.Get("TCPChallengeACK") - chal0;
        long inSegs = mib.Tcp.Get("InSegs") - inSegs0;

        output.WriteLine(report.ToString());
        output.WriteLine(I($"stack: InSegs {inSegs}, TCPChallengeACK {chal}, EstabResets {resets}; 200 MB in {seconds:F1} s ({received / seconds / 1e6:F1} MB/s), finished while the flood ran: {doneInFlood}"));
        Assert.Equal(bulk.Size, received);
        Assert.Equal(kernelSha, stackSha);
        Assert.Equal(0, resets);
        Assert.True(report.StackRx > 100_000, $"the stack took only {report.StackRx} frames: no flood");
        Assert.True(chal >= 1, "no in-window RST drew a challenge ACK");
        // One challenge ACK per tcp_invalid_ratelimit (500 ms) on the one socket attacked.
        double sinceFirst = report.Seconds + seconds;
        Assert.True(chal <= sinceFirst / 0.5 + 2, $"{chal} challenge ACKs in {sinceFirst:F1} s: more than one per tcp_invalid_ratelimit");
        FloodKit.AssertHeapBounded(report);
    }

    /// <summary>
    /// ACKs from random sources to a listener: none matches a request or a cookie, each is answered
    /// by a RST (Linux does not rate-limit tcp_v4_send_reset), and legitimate clients are accepted
    /// throughout.
    /// </summary>
    [PeerFact]
    public void AckFloodToAListener_AnsweredByResets_ListenerKeepsAccepting()
    {
        using var peer = TcpPeerKit.NewPeer(Impairment.None);
        using var listener = new FloodKit.EchoListener(peer, ListenPort, backlog: 128);
        Assert.Equal("warm", FloodKit.EchoClient(peer, ListenPort, "warm"));
        var mib = peer.Net.Mib;
        long inSegs0 = mib.Tcp.Get("InSegs"), rsts0 = mib.Tcp.Get("OutRsts"), outSegs0 = mib.Tcp.Get("OutSegs");
        List<(string Sent, string Got)> clients = [];
        var report = FloodKit.Run(peer, FloodKit.FloodTime,
            [FloodKit.Hping3(), "-A", "--flood", "--rand-source", "-p", ListenPort.ToString(CultureInfo.InvariantCulture), peer.StackIp],
            during: sw => clients = FloodKit.ClientsDuring(peer, ListenPort, sw, FloodKit.FloodTime));
        Thread.Sleep(500); // the stack drains what the TAP still holds
        long inSegs = mib.Tcp.Get("InSegs") - inSegs0, rsts = mib.Tcp.Get("OutRsts") - rsts0;

        output.WriteLine(report.ToString());
        output.WriteLine(I($"stack: InSegs {inSegs} ({inSegs / report.Seconds:F0}/s), OutRsts {rsts} ({rsts / report.Seconds:F0}/s), legitimate clients {clients.Count}"));
        foreach (var c in clients) output.WriteLine($"client {c.Sent}: got \"{c.Got}\"");
        Assert.NotEmpty(clients);
        Assert.All(clients, c => Assert.Equal(c.Sent, c.Got));
        Assert.Equal(1 + clients.Count, listener.Echoed);
        Assert.True(inSegs > 100_000, $"the stack took only {inSegs} segments: no flood");
        // Every flood ACK gets its RST; the legitimate connections (at most 10 segments each) none.
        Assert.InRange(rsts, inSegs - 10 * clients.Count, inSegs);
        FloodKit.AssertHeapBounded(report);
    }

    /// <summary>
    /// First fragments (offset 0, more-fragments set) from random sources that never complete:
    /// reassembly holds at most ipfrag_high_thresh bytes (one fragment over, as inet_frag_find
    /// checks before it charges), refuses the rest (ReasmFails) and lets old queues expire after
    /// ipfrag_time (ReasmTimeout, set to 5 s here so it happens during the flood); when the flood
    /// stops, memory drains and a real fragmented datagram is reassembled again.
    /// </summary>
    [PeerFact]
    public void FragmentFloodThatNeverCompletes_ReassemblyMemoryStaysUnderIpfragHighThresh()
    {
        using var peer = TcpPeerKit.NewPeer(Impairment.None);
        var sysctl = peer.Net.Sysctl;
        Assert.Equal(0, sysctl.TrySet("net.ipv4.ipfrag_time", "5"));
        Assert.True(sysctl.TryGet("net.ipv4.ipfrag_high_thresh", out var highText));
        long high = long.Parse(highText, CultureInfo.InvariantCulture);
        const long OneFragment = 64 << 10; // the largest truesize one fragment can charge
        var frags = peer.Net.Ipv4.Frags;
        var mib = peer.Net.Mib;
        long reqds0 = mib.Ip.Get("ReasmReqds"), fails0 = mib.Ip.Get("ReasmFails"), timeouts0 = mib.Ip.Get("ReasmTimeout"), oks0 = mib.Ip.Get("ReasmOKs");
        long memPeak = 0;
        var report = FloodKit.Run(peer, FloodKit.FloodTime,
            [FloodKit.Hping3(), "-1", "--flood", "--rand-source", "-x", "-d", "1000", peer.StackIp],
            sample: () =>
            {
                long m = Volatile.Read(ref frags.Mem);
                if (m > Volatile.Read(ref memPeak)) Volatile.Write(ref memPeak, m);
            });
        long reqds = mib.Ip.Get("ReasmReqds") - reqds0, fails = mib.Ip.Get("ReasmFails") - fails0;
        long timeouts = mib.Ip.Get("ReasmTimeout") - timeouts0, oks = mib.Ip.Get("ReasmOKs") - oks0;
        output.WriteLine(report.ToString());
        output.WriteLine(I($"stack: ReasmReqds {reqds} ({reqds / report.Seconds:F0}/s), ReasmFails {fails}, ReasmTimeout {timeouts}, ReasmOKs {oks}; reassembly memory peak {memPeak} bytes (ipfrag_high_thresh {high})"));

        Assert.True(reqds > 100_000, $"only {reqds} fragments reached reassembly: no flood");
        Assert.True(memPeak > high / 2, $"reassembly held at most {memPeak} bytes: the flood never filled it");
        Assert.True(memPeak <= high + OneFragment, $"reassembly held {memPeak} bytes, over ipfrag_high_thresh {high}");
        Assert.True(fails > 0, "no fragment was refused");
        Assert.True(timeouts > 0, "no queue expired");
        Assert.Equal(0, oks);

        // After ipfrag_time every queue has expired and a real fragmented datagram gets through.
        Assert.True(TapPeer.WaitUntil(() => Volatile.Read(ref frags.Mem) == 0, TimeSpan.FromSeconds(15)), $"reassembly still holds {frags.Mem} bytes");
        var ping = peer.Ping("-c", "3", "-i", "0.2", "-s", "4000");
        output.WriteLine($"ping -s 4000 after the flood: {ping}");
        Assert.Equal(3, ping.Received);
        FloodKit.AssertHeapBounded(report);
    }

    /// <summary>
    /// UDP datagrams to a socket nobody reads: the receive queue fills to SO_RCVBUF, the rest are
    /// dropped and counted (RcvbufErrors, and InErrors as udp_queue_rcv_one_skb counts them), and
    /// every datagram counted as delivered is in the queue to be read.
    /// </summary>
    [PeerFact]
    public void UdpFloodToASocketNobodyReads_RcvbufErrorsCounted_QueueBoundedByRcvbuf()
    {
        using var peer = TcpPeerKit.NewPeer(Impairment.None);
        using var sock = NetSocket.Udp(peer.Net);
        sock.Bind(Ep.Of(peer.StackAddr, UdpPort));
        var mib = peer.Net.Mib;
        long in0 = mib.Udp.Get("InDatagrams"), rcvbuf0 = mib.Udp.Get("RcvbufErrors"), inErr0 = mib.Udp.Get("InErrors");
        uint rmemPeak = 0, rcvbuf = 0;
        long devRx0 = peer.Host.Device.Stats.RxPackets;
        var report = FloodKit.Run(peer, FloodKit.FloodTime,
            [FloodKit.Hping3(), "--udp", "--flood", "-p", UdpPort.ToString(CultureInfo.InvariantCulture), "-d", "512", peer.StackIp],
            sample: () =>
            {
                var m = NetStackInfo.GetUdpSockets(peer.Net).Single(s => s.LocalEndPoint.Port == UdpPort).Memory!;
                rcvbuf = m.RcvBuf;
                if (m.RmemAlloc > rmemPeak) rmemPeak = m.RmemAlloc;
            });
        Thread.Sleep(500);
        long dropped = mib.Udp.Get("RcvbufErrors") - rcvbuf0, inErrors = mib.Udp.Get("InErrors") - inErr0;
        // What the queue holds can be read, and InDatagrams counts it as read (udp_recvmsg() counts).
        var buf = new byte[2048];
        long read = 0;
        while ((sock.Poll(SocketConstants.POLLIN, 0) & SocketConstants.POLLIN) != 0)
        {
            Assert.Equal(512, sock.Receive(buf));
            read++;
        }
        long delivered = mib.Udp.Get("InDatagrams") - in0;
        output.WriteLine(report.ToString());
        output.WriteLine(I($"stack: RcvbufErrors {dropped} ({dropped / report.Seconds:F0}/s), InErrors {inErrors}, queued and read {read} (InDatagrams {delivered}); receive queue peak {rmemPeak} bytes (SO_RCVBUF {rcvbuf})"));

        Assert.True(dropped > 100_000, $"only {dropped} datagrams dropped: no flood");
        Assert.Equal(dropped, inErrors);
        Assert.Equal(read, delivered);
        Assert.True(read > 0, "nothing was queued");
        // One datagram may go over SO_RCVBUF (__udp_enqueue_schedule_skb lets one in while rmem is under it).
        Assert.True(rmemPeak <= rcvbuf + Sock.SkbTruesizeOverhead + SkBuffPool.DefaultBufferSize, $"the receive queue held {rmemPeak} bytes, SO_RCVBUF is {rcvbuf}");
        // Every datagram the device took was either queued or dropped and counted (a few ARP frames
        // aside). Counted after the drain: frames still in the TAP when the flood's report was taken
        // arrive during the pause above.
        long took = peer.Host.Device.Stats.RxPackets - devRx0;
        Assert.InRange(read + dropped, took - 10, took);
        FloodKit.AssertHeapBounded(report);
    }

    /// <summary>
    /// Echo requests as fast as hping3 sends them. Echo replies are not in the default icmp_ratemask
    /// (0x1818), so, as Linux does, the stack answers every one (icmp_reply() still asks
    /// icmpv4_global_allow(), which lets unmasked types through). Then, with echo replies added to
    /// the mask and random sources, replies are held to the global bucket: icmp_msgs_burst plus
    /// icmp_msgs_per_sec per second, the rest counted as OutRateLimitGlobal.
    /// </summary>
    [PeerFact]
    public void IcmpEchoFlood_EveryEchoAnsweredByDefault_LimitedGloballyWhenTheMaskNamesEchoReplies()
    {
        using var peer = TcpPeerKit.NewPeer(Impairment.None);
        var icmp = peer.Net.Mib.Icmp;
        long echos0 = icmp.Get("InEchos"), reps0 = icmp.Get("OutEchoReps"), global0 = icmp.Get("OutRateLimitGlobal"), host0 = icmp.Get("OutRateLimitHost");
        var report = FloodKit.Run(peer, FloodKit.FloodTime, [FloodKit.Hping3(), "-1", "--flood", peer.StackIp]);
        Thread.Sleep(500);
        long echos = icmp.Get("InEchos") - echos0, reps = icmp.Get("OutEchoReps") - reps0;
        output.WriteLine(report.ToString());
        output.WriteLine(I($"default icmp_ratemask: InEchos {echos} ({echos / report.Seconds:F0}/s), OutEchoReps {reps}"));
        Assert.True(echos > 100_000, $"only {echos} echo requests: no flood");
        Assert.Equal(echos, reps);
        Assert.Equal(global0, icmp.Get("OutRateLimitGlobal"));
        Assert.Equal(host0, icmp.Get("OutRateLimitHost"));
        FloodKit.AssertHeapBounded(report);

        // Echo replies in the mask: the global bucket (random sources, so no host's own limit bites).
        var sysctl = peer.Net.Sysctl;
        Assert.True(sysctl.TryGet("net.ipv4.icmp_msgs_per_sec", out var perSecText));
        Assert.True(sysctl.TryGet("net.ipv4.icmp_msgs_burst", out var burstText));
        long perSec = long.Parse(perSecText, CultureInfo.InvariantCulture), burst = long.Parse(burstText, CultureInfo.InvariantCulture);
        echos0 = icmp.Get("InEchos");
        reps0 = icmp.Get("OutEchoReps");
        global0 = icmp.Get("OutRateLimitGlobal");
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(0, sysctl.TrySet("net.ipv4.icmp_ratemask", (0x1818 | 1).ToString(CultureInfo.InvariantCulture)));
        var limited = FloodKit.Run(peer, TimeSpan.FromSeconds(5), [FloodKit.Hping3(), "-1", "--flood", "--rand-source", peer.StackIp]);
        Thread.Sleep(500);
        echos = icmp.Get("InEchos") - echos0;
        reps = icmp.Get("OutEchoReps") - reps0;
        long global = icmp.Get("OutRateLimitGlobal") - global0;
        double elapsed = sw.Elapsed.TotalSeconds;
        output.WriteLine(limited.ToString());
        output.WriteLine(I($"icmp_ratemask 0x1819: InEchos {echos}, OutEchoReps {reps} in {elapsed:F1} s (bound {burst} + {perSec}/s = {burst + perSec * elapsed:F0}), OutRateLimitGlobal {global}"));
        Assert.True(reps <= burst + perSec * elapsed, $"{reps} echo replies in {elapsed:F1} s: over icmp_msgs_burst + icmp_msgs_per_sec");
        Assert.True(reps >= 1, "no echo was answered at all");
        Assert.Equal(echos, reps + global);
        FloodKit.AssertHeapBounded(limited);
    }
}
