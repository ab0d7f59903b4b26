using NetStack.Wire;

namespace NetStack.Uapi;

/// <summary>
/// A socket address as the caller passed it: a sockaddr_in's fields in host order plus the
/// addrlen argument, so the checks of inet_bind, udp connect and friends (addr_len &lt;
/// sizeof(struct sockaddr_in) -&gt; -EINVAL, sin_family != AF_INET -&gt; -EAFNOSUPPORT) can be made in
/// the kernel's order. Families other than AF_INET keep their number so that those checks see it.
/// <remarks>Mirrors include/uapi/linux/in.h: struct sockaddr_in (with the length of move_addr_to_kernel()).</remarks>
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
    }

    /// <summary>An AF_INET address of the full sockaddr_in length.</summary>
    public static SockAddr In(uint addr, ushort port) => new(SocketConstants.AF_INET, addr, port);

    /// <summary>An AF_INET address from dotted-quad text.</summary>
    public static SockAddr In(string addr, ushort port) => In(Ipv4Address.Parse(addr), port);

    /// <summary>The AF_UNSPEC address connect() uses to dissolve an association.</summary>
    public static SockAddr Unspec => new(SocketConstants.AF_UNSPEC, 0, 0, SocketConstants.SaFamilySize);

    /// <summary>"a.b.c.d:port" for AF_INET, else the family and length.</summary>
    public override readonly string ToString() =>
        Family == SocketConstants.AF_INET ? $"{Ipv4Address.Format(Addr)}:{Port}" : $"family {Family} len {Len}";
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
    /// <see cref="Core.Scm.PutCmsg"/> writes them in order from its start. Not read on send
    /// (ip_cmsg_send is not modelled).
    /// </summary>
    public Span<byte> Control;
    /// <summary>
    /// How many bytes of <see cref="Control"/> the control messages took: the kernel's advance of
    /// msg_control, which recvmsg(2) reports back as msg_controllen. 0 before the call.
    /// </summary>
    public int ControlLen;
}
