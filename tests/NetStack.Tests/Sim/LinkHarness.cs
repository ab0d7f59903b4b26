using System.Buffers.Binary;
using NetStack.Sim;

namespace NetStack.Tests.Sim;

/// <summary>
/// One link direction of a simulator, fed by hand: frames put on it at chosen virtual times, and
/// every frame that reaches the far end recorded with its arrival time (ns since the start).
/// </summary>
internal sealed class LinkHarness : ISimEventHandler, IDisposable
{
    private const string TwoHosts = """{ "duration": "1000s", "sample_interval": "1000s", "hosts": [ { "name": "a" }, { "name": "b" } ] }""";

    public Simulator Sim { get; }
    public Link Link { get; }
    public List<(long TimeNs, byte[] Frame)> Arrivals { get; } = [];

    public LinkHarness(LinkSpec spec, ulong seed = 1)
    {
        Sim = new Simulator(Scenario.Parse(TwoHosts), seed);
        Link = new Link(Sim, "test", spec, new SimRandom(seed, 99), 1514, 1, this, 0, 0);
    }

    /// <summary>Puts a frame of <paramref name="bytes"/> (an IPv4 datagram with ECN field <paramref name="ecn"/>) on the link at <paramref name="atNs"/>.</summary>
    public void SendAt(long atNs, int bytes, int ecn = 0, int flow = 0, int tag = 0)
    {
        var f = Frame(bytes, ecn);
        BinaryPrimitives.WriteInt32BigEndian(f.AsSpan(34), tag);
        Sim.Events.Schedule(Sim.T0 + atNs, new Injector(this, f, flow), 0);
    }

    /// <summary>The tag <see cref="SendAt"/> wrote into a frame.</summary>
    public static int Tag(byte[] frame) => BinaryPrimitives.ReadInt32BigEndian(frame.AsSpan(34));

    /// <summary>Runs the simulator up to <paramref name="untilNs"/>.</summary>
    public void Run(long untilNs) => Sim.Run(untilNs);

    public void OnEvent(int kind, SimFrame? frame, long arg)
    {
        Arrivals.Add((Sim.Now, frame!.Span.ToArray()));
        Sim.Frames.Return(frame);
    }

    /// <summary>An Ethernet frame carrying an IPv4 header (UDP, valid checksum) with the given ECN bits, zero-padded to <paramref name="bytes"/>.</summary>
    public static byte[] Frame(int bytes, int ecn = 0)
    {
        var f = new byte[bytes];
        f[0] = 2; f[5] = 2; f[6] = 2; f[11] = 1;
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), 0x0800);
        var ip = f.AsSpan(14, 20);
        ip[0] = 0x45;
        ip[1] = (byte)ecn;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(bytes - 14));
        ip[8] = 64;
        ip[9] = 17;
        BinaryPrimitives.WriteUInt32BigEndian(ip[12..], 0x0A000001);
        BinaryPrimitives.WriteUInt32BigEndian(ip[16..], 0x0A000002);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], IpChecksum(ip));
        return f;
    }

    /// <summary>The one's complement sum of an IPv4 header (0 when the checksum in it is right... as the folded complement).</summary>
    public static ushort IpChecksum(ReadOnlySpan<byte> header)
    {
        uint sum = 0;
        for (int i = 0; i < header.Length; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(header[i..]);
        while (sum >> 16 != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    public void Dispose() => Sim.Dispose();

    private sealed class Injector(LinkHarness h, byte[] bytes, int flow) : ISimEventHandler
    {
        public void OnEvent(int kind, SimFrame? frame, long arg)
        {
            var f = h.Sim.Frames.Rent(bytes);
            f.FlowId = flow;
            h.Link.Send(f);
        }
    }
}
