namespace NetStack.Core;

/// <summary>
/// What ip_options_compile() found in a header's options, as
/// offsets from the IP header (0: absent). The part a received buffer carries in its control block.
/// </summary>
/// <remarks>Mirrors include/net/inet_sock.h: struct ip_options without its __data.</remarks>
internal struct IpOptionsParm
{
    /// <summary>faddr: the first hop of a source route the socket set (the route's first address, taken out of the option).</summary>
    public uint Faddr;
    /// <summary>optlen: the options' length in bytes (a multiple of 4 once compiled from a user).</summary>
    public int Optlen;
    /// <summary>srr: offset of a loose or strict source route option.</summary>
    public int Srr;
    /// <summary>rr: offset of the record route option.</summary>
    public int Rr;
    /// <summary>ts: offset of the timestamp option.</summary>
    public int Ts;
    /// <summary>router_alert: offset of a router alert option with value 0.</summary>
    public int RouterAlert;
    /// <summary>is_strictroute: the source route is strict (SSRR).</summary>
    public bool IsStrictroute;
    /// <summary>rr_needaddr: the record route option has a slot claimed for the sender's address.</summary>
    public bool RrNeedaddr;
    /// <summary>ts_needtime / ts_needaddr: the timestamp option has a slot claimed for a time / an address.</summary>
    public bool TsNeedtime, TsNeedaddr;
    /// <summary>is_changed: the walk rewrote the header (the checksum must be redone before it goes out again).</summary>
    public bool IsChanged;
}

