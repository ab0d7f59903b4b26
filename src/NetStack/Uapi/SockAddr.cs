using NetStack.Wire;

namespace NetStack.Uapi;

/// <summary>
/// A socket address as the caller passed it: a sockaddr_in's (or sockaddr_in6's) fields in host
/// order plus the addrlen argument, so the checks of inet_bind, udp connect and friends (addr_len &lt;
/// sizeof(struct sockaddr_in) -&gt; -EINVAL, sin_family != AF_INET -&gt; -EAFNOSUPPORT) can be made in
/// the kernel's order. Families other than AF_INET keep their number so that those checks see it.
/// For AF_INET6 the address is <see cref="Addr6"/> with <see cref="FlowInfo"/> and <see cref="ScopeId"/>;
/// <see cref="Addr"/> stays 0.
/// <remarks>Mirrors include/uapi/linux/in.h: struct sockaddr_in and include/uapi/linux/in6.h: struct
/// sockaddr_in6 (with the length of move_addr_to_kernel()).</remarks>
/// </summary>
public struct SockAddr
{
    /// <summary>sin_family.</summary>
    public ushort Family;
    /// <summary>sin_port, host order.</summary>
    public ushort Port;
    /// <summary>sin_addr, host order.</summary>
    public uint Addr;
    /// <summary>The addrlen the caller passed (or, on output, the length the kernel reports).</summary>
    public int Len;
    /// <summary>sin6_addr, host order (the leftmost byte is the most significant): AF_INET6 only.</summary>
    public UInt128 Addr6;
    /// <summary>sin6_flowinfo, host order: AF_INET6 only.</summary>
    public uint FlowInfo;
    /// <summary>sin6_scope_id: the interface a link-local address belongs to (AF_INET6 only).</summary>
    public uint ScopeId;

    /// <summary>A socket address of <paramref name="family"/> with IPv4 address <paramref name="addr"/> and <paramref name="port"/>, both host order.</summary>
    /// <param name="family">AF_INET, or AF_UNSPEC.</param>
    /// <param name="addr">The IPv4 address, host order.</param>
    /// <param name="port">The port, host order.</param>
    /// <param name="len">The addrlen; sizeof(struct sockaddr_in) by default.</param>
    public SockAddr(ushort family, uint addr, ushort port, int len = SocketConstants.SockaddrInSize)
    {
        Family = family;
        Addr = addr;
        Port = port;
        Len = len;
        Addr6 = UInt128.Zero;
        FlowInfo = 0;
        ScopeId = 0;
    }

    /// <summary>An AF_INET6 address (a sockaddr_in6 of <paramref name="len"/> bytes, 28 by default).</summary>
    /// <param name="addr">sin6_addr, host order.</param>
    /// <param name="port">sin6_port, host order.</param>
    /// <param name="scopeId">sin6_scope_id.</param>
    /// <param name="flowInfo">sin6_flowinfo, host order.</param>
    /// <param name="len">The addrlen.</param>
    public static SockAddr In6(UInt128 addr, ushort port, uint scopeId = 0, uint flowInfo = 0, int len = SocketConstants.SockaddrIn6Size) =>
        new(SocketConstants.AF_INET6, 0, port, len) { Addr6 = addr, ScopeId = scopeId, FlowInfo = flowInfo };

    /// <summary>An AF_INET6 address from its text form ("::", "::ffff:10.0.0.1", "2001:db8::1").</summary>
    public static SockAddr In6(string addr, ushort port) => In6(Ipv6Address.Parse(addr), port);

    /// <summary>An AF_INET address of the full sockaddr_in length.</summary>
    public static SockAddr In(uint addr, ushort port) => new(SocketConstants.AF_INET, addr, port);

    /// <summary>An AF_INET address from dotted-quad text.</summary>
    public static SockAddr In(string addr, ushort port) => In(Ipv4Address.Parse(addr), port);

    /// <summary>The AF_UNSPEC address connect() uses to dissolve an association.</summary>
    public static SockAddr Unspec => new(SocketConstants.AF_UNSPEC, 0, 0, SocketConstants.SaFamilySize);

    /// <summary>"a.b.c.d:port" for AF_INET, "[addr]:port" (with "%scope") for AF_INET6, else the family and length.</summary>
    public override readonly string ToString() => Family switch
    {
        SocketConstants.AF_INET => $"{Ipv4Address.Format(Addr)}:{Port}",
        SocketConstants.AF_INET6 => ScopeId != 0 ? $"[{Ipv6Address.Format(Addr6)}%{ScopeId}]:{Port}" : $"[{Ipv6Address.Format(Addr6)}]:{Port}",
        _ => $"family {Family} len {Len}",
    };
}

/// <summary>
/// The message header passed through sendmsg/recvmsg: the peer address (msg_name), the control
/// buffer for ancillary data (msg_control), and flags. The data travels beside it as a span (one
/// iovec). A ref struct, since the control buffer is the caller's span (stack memory, so receiving
/// control messages allocates nothing).
/// <remarks>Mirrors include/linux/socket.h: struct msghdr (msg_name, msg_namelen, msg_control, msg_controllen, msg_flags).</remarks>
/// </summary>
public ref struct MsgHdr
{
    /// <summary>msg_name: the destination on send, the source on receive.</summary>
    public SockAddr Name;
    /// <summary>msg_name != NULL: on send, a destination was given; on receive, the caller wants the source.</summary>
    public bool HasName;
    /// <summary>msg_namelen on receive: the length of the address written into <see cref="Name"/>.</summary>
    public int NameLen;
    /// <summary>msg_flags: the send flags on send (as __sys_sendto sets them), MSG_TRUNC/MSG_CTRUNC... on receive.</summary>
    public int Flags;
    /// <summary>
    /// msg_control on receive: the caller's buffer for control messages (empty: msg_control == NULL).
    /// <see cref="Core.Scm.PutCmsg"/> writes them in order from its start. On send, AF_INET6 UDP
    /// and raw sockets read it (ip6_datagram_send_ctl: IPV6_PKTINFO, IPV6_HOPLIMIT, IPV6_TCLASS);
    /// AF_INET sockets do not (ip_cmsg_send is not modelled).
    /// </summary>
    public Span<byte> Control;
    /// <summary>
    /// How many bytes of <see cref="Control"/> the control messages took: the kernel's advance of
    /// msg_control, which recvmsg(2) reports back as msg_controllen. 0 before the call.
    /// </summary>
    public int ControlLen;
}
