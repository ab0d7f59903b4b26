using System.Buffers.Binary;

namespace NetStack.Uapi;

/// <summary>
/// Control messages (ancillary data) in a msg_control buffer, laid out as on x86-64 Linux: each is
/// a struct cmsghdr (size_t cmsg_len, int cmsg_level, int cmsg_type; 16 bytes) followed by its data,
/// and the next one starts at the previous one's cmsg_len rounded up to 8 bytes.
/// <code>
/// foreach (var c in Cmsg.Enumerate(control[..msg.ControlLen]))
///     if (c.Level == SOL_IP &amp;&amp; c.Type == IP_TTL &amp;&amp; c.Data.Length == 4) ttl = BinaryPrimitives.ReadInt32LittleEndian(c.Data);
/// </code>
/// <remarks>Mirrors include/linux/socket.h: struct cmsghdr, CMSG_ALIGN(), CMSG_LEN(), CMSG_SPACE(), and the CMSG_FIRSTHDR()/CMSG_NXTHDR() walk.</remarks>
/// </summary>
public static class Cmsg
{
    /// <summary>sizeof(struct cmsghdr) on a 64-bit kernel.</summary>
    public const int HeaderSize = 16;

    /// <summary>CMSG_ALIGN(): <paramref name="len"/> rounded up to a multiple of sizeof(long).</summary>
    public static int Align(int len) => (len + 7) & ~7;

    /// <summary>CMSG_LEN(): the cmsg_len of a message with <paramref name="dataLen"/> bytes of data (header included, no trailing padding).</summary>
    public static int Len(int dataLen) => HeaderSize + dataLen;

    /// <summary>CMSG_SPACE(): the room a message with <paramref name="dataLen"/> bytes of data takes in the buffer, padding included.</summary>
    public static int Space(int dataLen) => HeaderSize + Align(dataLen);

    /// <summary>
    /// The messages of a filled control buffer (pass the part recvmsg reported, msg_controllen bytes),
    /// in order. A message is read while its header fits and its cmsg_len covers at least the header;
    /// a message the kernel cut short (MSG_CTRUNC) comes with the data that fits, shorter than its
    /// type's size.
    /// </summary>
    public static CmsgEnumerator Enumerate(ReadOnlySpan<byte> control) => new(control);
}

/// <summary>One control message: struct cmsghdr and its data.</summary>
public readonly ref struct ControlMessage
{
    /// <summary>A message as read from a control buffer.</summary>
    public ControlMessage(int level, int type, int length, ReadOnlySpan<byte> data)
    {
        Level = level;
        Type = type;
        Length = length;
        Data = data;
    }

    /// <summary>cmsg_level: the protocol level (SOL_IP, SOL_SOCKET).</summary>
    public int Level { get; }
    /// <summary>cmsg_type: the message type within the level (IP_TTL, IP_PKTINFO...).</summary>
    public int Type { get; }
    /// <summary>cmsg_len: the header and the data as the kernel wrote them (less than CMSG_LEN of the whole value when cut short).</summary>
    public int Length { get; }
    /// <summary>CMSG_DATA(): the data bytes present in the buffer.</summary>
    public ReadOnlySpan<byte> Data { get; }
}

/// <summary>Walks a control buffer message by message (<see cref="Cmsg.Enumerate"/>); usable with foreach.</summary>
public ref struct CmsgEnumerator
{
    private readonly ReadOnlySpan<byte> _buf;
    private int _next;
    private ControlMessage _current;

    /// <summary>A walk over <paramref name="control"/> from its first message.</summary>
    public CmsgEnumerator(ReadOnlySpan<byte> control)
    {
        _buf = control;
        _next = 0;
        _current = default;
    }

    /// <summary>The message <see cref="MoveNext"/> stopped at.</summary>
    public readonly ControlMessage Current => _current;

    /// <summary>This walk, for foreach.</summary>
    public readonly CmsgEnumerator GetEnumerator() => this;

    /// <summary>Steps to the next message; false when no further header fits or a cmsg_len is below the header's size.</summary>
    public bool MoveNext()
    {
        int off = _next;
        if (off < 0 || off > _buf.Length - Cmsg.HeaderSize) return false;
        ulong len = BinaryPrimitives.ReadUInt64LittleEndian(_buf[off..]);
        if (len < Cmsg.HeaderSize) return false;
        int avail = _buf.Length - off;
        int length = len > (ulong)avail ? avail : (int)len;
        _current = new ControlMessage(
            BinaryPrimitives.ReadInt32LittleEndian(_buf[(off + 8)..]),
            BinaryPrimitives.ReadInt32LittleEndian(_buf[(off + 12)..]),
            len > int.MaxValue ? int.MaxValue : (int)len,
            _buf.Slice(off + Cmsg.HeaderSize, length - Cmsg.HeaderSize));
        // The next header: CMSG_NXTHDR's CMSG_ALIGN(cmsg_len), or past the end (walk over).
        _next = len > (ulong)avail ? _buf.Length : off + Cmsg.Align(length);
        return true;
    }
}
