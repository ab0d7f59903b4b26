using BenchmarkDotNet.Attributes;
using NetStack.Wire;

namespace NetStack.Benchmarks;

/// <summary>
/// Parsing and emitting the IPv4 and TCP headers of a data segment with the timestamps option
/// (and, for the SACK case, three SACK blocks): the checks ip_rcv_core() and tcp_v4_rcv() make on
/// every packet, tcp_parse_options(), and tcp_options_write() plus the header writes on output.
/// </summary>
[MemoryDiagnoser]
public class HeaderBenchmarks
{
    private readonly byte[] _packet = new byte[1500];
    private readonly byte[] _out = new byte[1500];
    private TcpRepr _tcp;
    private TcpRepr _tcpSack;
    private Ipv4Repr _ip;

    [GlobalSetup]
    public void Setup()
    {
        _ip = new Ipv4Repr(0x0a090001, 0x0a090002, 6, 32 + 1448, Id: 4242);
        _tcp = new TcpRepr(40000, 5201, new SeqNumber(1_000_000), new SeqNumber(2_000_000), TcpFlags.ACK | TcpFlags.PSH, 502)
        {
            Timestamp = new TcpTimestamp(123456, 654321),
        };
        _tcpSack = _tcp;
        _tcpSack.Sack.Add(new SackBlock(2_010_000, 2_011_448));
        _tcpSack.Sack.Add(new SackBlock(2_020_000, 2_021_448));
        _tcpSack.Sack.Add(new SackBlock(2_030_000, 2_031_448));
        _ip.Emit(Ipv4Header.Create(_packet));
        _tcp.Emit(TcpHeader.Create(_packet.AsSpan(Ipv4Header.MinLength)));
    }

    /// <summary>ip_rcv_core()'s checks, the header checksum and the value form.</summary>
    [Benchmark]
    public int ParseIpv4()
    {
        if (Ipv4Header.TryCreate(_packet, out var h) != Ipv4ParseResult.Ok) return -1;
        if (!h.VerifyChecksum()) return -2;
        return Ipv4Repr.Parse(h).PayloadLength;
    }

    /// <summary>tcp_v4_rcv()'s header checks and tcp_parse_options() (timestamps).</summary>
    [Benchmark]
    public uint ParseTcp()
    {
        if (TcpHeader.TryCreate(_packet.AsSpan(Ipv4Header.MinLength), out var h) != TcpParseResult.Ok) return 0;
        return TcpRepr.Parse(h).Timestamp!.Value.TsVal;
    }

    /// <summary>The IPv4 header with its checksum (ip_queue_xmit's build).</summary>
    [Benchmark]
    public int EmitIpv4()
    {
        _ip.Emit(Ipv4Header.Create(_out));
        return _out[10];
    }

    /// <summary>The TCP header with timestamps (__tcp_transmit_skb, tcp_options_write).</summary>
    [Benchmark]
    public int EmitTcp()
    {
        _tcp.Emit(TcpHeader.Create(_out.AsSpan(Ipv4Header.MinLength)));
        return _out[Ipv4Header.MinLength + 12];
    }

    /// <summary>The TCP header with timestamps and three SACK blocks (an ACK during recovery).</summary>
    [Benchmark]
    public int EmitTcpWithSack()
    {
        _tcpSack.Emit(TcpHeader.Create(_out.AsSpan(Ipv4Header.MinLength)));
        return _out[Ipv4Header.MinLength + 12];
    }
}
