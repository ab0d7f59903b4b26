using System.Buffers.Binary;
using NetStack.Uapi;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Core;

/// <summary>
/// Socket control messages: what a protocol's recvmsg hands back beside the data.
/// <remarks>Mirrors net/core/scm.c.</remarks>
/// </summary>
public static class Scm
{
    /// <summary>
    /// Appends one control message to the caller's control buffer. With no room for even a header,
    /// nothing is written; with room for less than the whole message, the part that fits is written
    /// (its cmsg_len saying how much); either way MSG_CTRUNC is set in msg.Flags. Allocates nothing.
    /// </summary>
    /// <param name="msg">The receive's message header: its <see cref="MsgHdr.Control"/> past <see cref="MsgHdr.ControlLen"/> is the room left.</param>
    /// <param name="level">cmsg_level (SOL_IP).</param>
    /// <param name="type">cmsg_type (IP_TTL, IP_PKTINFO...).</param>
    /// <param name="data">The message's data (CMSG_DATA).</param>
    /// <remarks>Mirrors net/core/scm.c: put_cmsg() (the compat layout never applies: MSG_CMSG_COMPAT is refused by recvmsg).</remarks>
    public static void PutCmsg(ref MsgHdr msg, int level, int type, scoped ReadOnlySpan<byte> data)
    {
        int cmlen = Cmsg.Len(data.Length);
        int room = msg.Control.Length - msg.ControlLen;
        if (room < Cmsg.HeaderSize)
        {
            msg.Flags |= MSG_CTRUNC;
            return; // XXX: return error? check spec.
        }
        if (room < cmlen)
        {
            msg.Flags |= MSG_CTRUNC;
            cmlen = room;
        }
        var cm = msg.Control[msg.ControlLen..];
        BinaryPrimitives.WriteUInt64LittleEndian(cm, (ulong)cmlen);
        BinaryPrimitives.WriteInt32LittleEndian(cm[8..], level);
        BinaryPrimitives.WriteInt32LittleEndian(cm[12..], type);
        data[..(cmlen - Cmsg.HeaderSize)].CopyTo(cm[Cmsg.HeaderSize..]);
        msg.ControlLen += Math.Min(Cmsg.Space(data.Length), room);
    }
}
