using NetStack.Ipv4;
using static NetStack.Wire.TcpFlags;

namespace NetStack.Tests.Tcp;

/// <summary>
/// Black-hole detection of packetization-layer path MTU discovery (RFC 4821; net.ipv4.tcp_mtu_probing,
/// tcp_timer.c's tcp_mtu_probing() from tcp_write_timeout()). The peer plays a path whose MTU is
/// 1100 and that drops larger packets without an ICMP error: the stack's 1460-byte segments are
/// never acknowledged. retransmits_timed_out() counts from the first retransmission (retrans_stamp,
/// 200 ms in) and tcp_retries1 = 3 backed-off timeouts from RTO_MIN = 200 ms take 3 s, so the
/// fifth timeout (6.2 s in) is the first past them: it turns the search on and the MSS drops to
/// tcp_base_mss (1024), so the retransmission goes out as 1024 bytes; each later timeout halves it.
/// </summary>
public class TcpMtuProbingTests
{
    private static byte[] Data(int n)
    {
        var d = new byte[n];
        for (int i = 0; i < n; i++) d[i] = (byte)(i * 7 + 3);
        return d;
    }

    /// <summary>Sends 2920 bytes as two full segments, lost in the black hole, and the first four timeouts that resend the head whole.</summary>
    private static byte[] LoseTwoSegments(TcpFixture f)
    {
        var data = Data(2920);
        Assert.Equal(2920, f.SendData(data));
        f.Expect(ACK, seq: f.LocalIss + 1, payload: data[..1460]);
        f.Expect(ACK | PSH, seq: f.LocalIss + 1461, payload: data[1460..]);
        foreach (long gap in new long[] { 200, 400, 800, 1600 })
        {
            Assert.Equal(gap, f.AdvanceUntilSent(10_000));
            f.Expect(ACK, seq: f.LocalIss + 1, payload: data[..1460]);
            f.ExpectNothing();
        }
        return data;
    }

    [Fact]
    public void MtuProbing1_TimeoutsPastRetries1_DropMssToBaseMss_ThenHalveIt()
    {
        using var f = TcpFixture.Established(s => s.TcpMtuProbing = 1);
        var data = LoseTwoSegments(f);
        Assert.Equal(1460u, f.Sk.MssCache);
        Assert.False(f.Sk.IcskMtup.Enabled);
        // 6 s since the first retransmission: a black hole is suspected.
        Assert.Equal(3200, f.AdvanceUntilSent(10_000));
        f.Expect(ACK, seq: f.LocalIss + 1, payload: data[..1024]);
        f.ExpectNothing();
        Assert.True(f.Sk.IcskMtup.Enabled);
        Assert.Equal(1024u, f.Sk.MssCache);
        Assert.Equal(1064, f.Sk.IcskMtup.SearchLow);
        // Still nothing back: the next timeout halves the MSS known to work.
        Assert.Equal(6400, f.AdvanceUntilSent(20_000));
        f.Expect(ACK, seq: f.LocalIss + 1, payload: data[..512]);
        Assert.Equal(512u, f.Sk.MssCache);
        Assert.Equal(552, f.Sk.IcskMtup.SearchLow);
    }

    [Fact]
    public void MtuProbing1_AfterTheDrop_TheTransferCompletesThroughTheBlackHole()
    {
        using var f = TcpFixture.Established(s => s.TcpMtuProbing = 1);
        var data = LoseTwoSegments(f);
        Assert.Equal(3200, f.AdvanceUntilSent(10_000));
        f.Expect(ACK, seq: f.LocalIss + 1, payload: data[..1024]);
        // The path carries 1064-byte packets: acknowledge what arrives, segment by segment, until all
        // 2920 bytes are through; none is larger than the new MSS, so none is lost again.
        var got = new byte[2920];
        Array.Copy(data, got, 1024);
        uint acked = 1024;
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1 + acked);
        for (int round = 0; round < 20 && acked < 2920; round++)
        {
            f.Advance(1);
            while (f.Dev.Sent.Count > 0)
            {
                var s = f.Next();
                Assert.True(s.Payload.Length <= 1024, $"a segment larger than the MSS left: {s}");
                uint off = s.Seq - (f.LocalIss + 1);
                s.Payload.CopyTo(got, (int)off);
                acked = Math.Max(acked, off + (uint)s.Payload.Length);
            }
            f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1 + acked);
        }
        Assert.Equal(2920u, acked);
        Assert.Equal(data, got);
        Assert.Equal(1024u, f.Sk.MssCache);
    }

    [Fact]
    public void MtuProbing0_TimeoutsKeepTheMss()
    {
        using var f = TcpFixture.Established();
        Assert.Equal(0, f.Net.Ipv4.Sysctl.TcpMtuProbing);
        var data = LoseTwoSegments(f);
        foreach (long gap in new long[] { 3200, 6400 })
        {
            Assert.Equal(gap, f.AdvanceUntilSent(20_000));
            f.Expect(ACK, seq: f.LocalIss + 1, payload: data[..1460]);
        }
        Assert.Equal(1460u, f.Sk.MssCache);
        Assert.False(f.Sk.IcskMtup.Enabled);
    }

    [Fact]
    public void MtuProbing2_StartsFromBaseMss()
    {
        using var f = TcpFixture.Established(s => s.TcpMtuProbing = 2);
        Assert.True(f.Sk.IcskMtup.Enabled);
        Assert.Equal(1024u, f.Sk.MssCache);
        Assert.Equal(1500, f.Sk.IcskMtup.SearchHigh);
        var data = Data(1500);
        Assert.Equal(1500, f.SendData(data));
        f.Expect(ACK, seq: f.LocalIss + 1, payload: data[..1024]);
        f.Expect(ACK | PSH, seq: f.LocalIss + 1025, payload: data[1024..]);
    }

    [Fact]
    public void Sysctls_HaveLinuxDefaultsAndRanges()
    {
        using var f = TcpFixture.Established();
        var sys = f.Net.Sysctl;
        string Get(string name)
        {
            Assert.True(sys.TryGet(name, out var v), name);
            return v.Trim();
        }
        Assert.Equal("0", Get("net.ipv4.tcp_mtu_probing"));
        Assert.Equal("1024", Get("net.ipv4.tcp_base_mss"));
        Assert.Equal("48", Get("net.ipv4.tcp_mtu_probe_floor"));
        Assert.Equal("8", Get("net.ipv4.tcp_probe_threshold"));
        Assert.Equal("600", Get("net.ipv4.tcp_probe_interval"));
        Assert.Equal(0, sys.TrySet("net.ipv4.tcp_mtu_probing", "2"));
        Assert.NotEqual(0, sys.TrySet("net.ipv4.tcp_mtu_probe_floor", "47"));
    }
}
