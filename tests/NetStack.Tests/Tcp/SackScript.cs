using NetStack.Wire;
using static NetStack.Wire.TcpFlags;

namespace NetStack.Tests.Tcp;

/// <summary>
/// The steps the SACK-recovery packet tests (RACK-TLP, F-RTO) script with a <see cref="TcpFixture"/>:
/// full segments written and taken off the wire, the peer's ACK with SACK blocks, and what the
/// stack transmits without time passing.
/// </summary>
internal static class SackScript
{
    /// <summary>The MSS both sides announce in these scripts.</summary>
    public const int Mss = 1000;

    /// <summary>Writes <paramref name="n"/> full segments and takes the <paramref name="expectSent"/> transmitted now; returns the first sequence.</summary>
    public static uint SendSegments(TcpFixture f, int n, int expectSent)
    {
        uint b = f.Sk.SndNxt;
        Assert.Equal(n * Mss, f.SendData(new byte[n * Mss]));
        for (int i = 0; i < expectSent; i++) f.Expect(i == n - 1 ? (byte)(ACK | PSH) : ACK, seq: b + (uint)(i * Mss), len: Mss);
        f.ExpectNothing();
        return b;
    }

    /// <summary>The peer acknowledges <paramref name="ack"/> and SACKs the segments [first, last] (1-based indices from <paramref name="b"/>).</summary>
    public static void Ack(TcpFixture f, uint ack, uint b = 0, int first = 0, int last = 0)
    {
        var sack = new TcpSackBlocks();
        if (first > 0) sack.Add(new SackBlock(b + (uint)((first - 1) * Mss), b + (uint)(last * Mss)));
        f.Send(ACK, seq: f.RemoteIss + 1, ack: ack, sack: sack);
    }

    /// <summary>Everything transmitted now (without time passing).</summary>
    public static List<Seg> Drain(TcpFixture f)
    {
        f.Net.Poll();
        var list = new List<Seg>();
        while (f.Dev.Sent.Count > 0) list.Add(TcpFixture.Parse(f.Dev.Sent.Dequeue()));
        return list;
    }
}
