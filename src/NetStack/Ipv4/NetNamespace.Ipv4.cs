using NetStack.Drivers;
using NetStack.Ipv4;

namespace NetStack.Core;

public sealed partial class NetNamespace
{
    private ushort _ipIdent;
    private LoopbackDevice? _loopback;
    internal readonly IcmpRateState IcmpRate = new();

    /// <summary>The loopback device (lo, ifindex 1, 127.0.0.1/8), created with the namespace.</summary>
    public NetDevice Loopback => _loopback!;

    internal void CreateLoopback()
    {
        _loopback = new LoopbackDevice();
        AddDevice(_loopback, Wire.Ipv4Address.Loopback, 8);
    }

    /// <summary>The IP identification for the next datagram.</summary>
    /// <remarks>Mirrors ip_select_ident(): the kernel hashes per destination; one counter is enough for a host.</remarks>
    internal ushort SelectIdent() => _ipIdent++;
}
