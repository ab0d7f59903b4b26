namespace NetStack.Uapi;

/// <summary>
/// One message of sendmmsg(2)/recvmmsg(2): a <see cref="MsgHdr"/> that can live in an array (its
/// buffers are memory, not spans) plus msg_len, what the call sent or received for it.
/// </summary>
/// <remarks>Mirrors include/linux/socket.h: struct mmsghdr (a user_msghdr and msg_len).</remarks>
public struct MMsgHdr
{
    /// <summary>msg_name: the destination on send (when <see cref="HasName"/>), the source on receive.</summary>
    public SockAddr Name;
    /// <summary>msg_name != NULL.</summary>
    public bool HasName;
    /// <summary>msg_namelen on receive: the length of the address written into <see cref="Name"/>.</summary>
    public int NameLen;
    /// <summary>msg_flags on receive (MSG_TRUNC, MSG_CTRUNC...).</summary>
    public int Flags;
    /// <summary>msg_iov with one iovec: the data to send, or the buffer to receive into.</summary>
    public Memory<byte> Buffer;
    /// <summary>msg_control on receive (empty: none).</summary>
    public Memory<byte> Control;
    /// <summary>msg_controllen on return: the bytes the control messages took.</summary>
    public int ControlLen;
    /// <summary>msg_len: the bytes sent or received for this message.</summary>
    public int Len;
}
