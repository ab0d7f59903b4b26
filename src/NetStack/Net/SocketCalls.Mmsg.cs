using System.Buffers;
using NetStack.Core;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Net;

/// <summary>
/// The vectored and batched calls: sendmsg/recvmsg with several iovecs (gather and scatter), and
/// sendmmsg/recvmmsg. The kernel walks the iovecs with an iov_iter; here a gather is copied into
/// one pooled buffer and a scatter copied out of one, which gives the same bytes, lengths and
/// errors (a datagram is still one datagram) at the cost of one copy. Pooled, so allocation-free
/// once warm.
/// </summary>
public static partial class SocketCalls
{
    /// <summary>The most bytes one call moves (include/linux/fs.h: MAX_RW_COUNT = INT_MAX &amp; PAGE_MASK); longer vectors are cut there.</summary>
    private const int MaxRwCount = int.MaxValue & ~4095;

    /// <summary>Total length of an iovec array, or -EMSGSIZE for more than UIO_MAXIOV entries.</summary>
    /// <remarks>Mirrors lib/iov_iter.c: iovec_from_user() / __import_iovec() (EMSGSIZE past UIO_MAXIOV, the total capped at MAX_RW_COUNT).</remarks>
    private static int IovLength<T>(ReadOnlySpan<T> iov, Func<T, int> len)
    {
        if (iov.Length > UIO_MAXIOV) return -Errno.EMSGSIZE;
        long total = 0;
        foreach (var v in iov) total += len(v);
        return (int)Math.Min(total, MaxRwCount);
    }

    /// <summary>sendmsg(2) with several iovecs: their bytes, in order, as one message (one datagram on UDP).</summary>
    /// <remarks>Mirrors net/socket.c: ___sys_sendmsg() with a multi-segment msg_iov.</remarks>
    public static int Sendmsg(FdTable files, int fd, ref MsgHdr msg, ReadOnlySpan<ReadOnlyMemory<byte>> iov, int flags)
    {
        int total = IovLength(iov, static m => m.Length);
        if (total < 0) return total;
        if (iov.Length == 1) return Sendmsg(files, fd, ref msg, iov[0].Span, flags);
        byte[] linear = ArrayPool<byte>.Shared.Rent(Math.Max(total, 1));
        try
        {
            int at = 0;
            foreach (var v in iov)
            {
                int n = Math.Min(v.Length, total - at);
                v.Span[..n].CopyTo(linear.AsSpan(at));
                at += n;
            }
            return Sendmsg(files, fd, ref msg, linear.AsSpan(0, total), flags);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(linear);
        }
    }

    /// <summary>recvmsg(2) with several iovecs: what one call receives, spread over them in order.</summary>
    /// <remarks>Mirrors net/socket.c: ___sys_recvmsg() with a multi-segment msg_iov (a datagram longer than all of them is cut, MSG_TRUNC).</remarks>
    public static int Recvmsg(FdTable files, int fd, ref MsgHdr msg, ReadOnlySpan<Memory<byte>> iov, int flags)
    {
        int total = IovLength(iov, static m => m.Length);
        if (total < 0) return total;
        if (iov.Length == 1) return Recvmsg(files, fd, ref msg, iov[0].Span, flags);
        byte[] linear = ArrayPool<byte>.Shared.Rent(Math.Max(total, 1));
        try
        {
            int n = Recvmsg(files, fd, ref msg, linear.AsSpan(0, total), flags);
            int left = Math.Min(Math.Max(n, 0), total), at = 0;
            foreach (var v in iov)
            {
                if (left == 0) break;
                int k = Math.Min(v.Length, left);
                linear.AsSpan(at, k).CopyTo(v.Span);
                at += k;
                left -= k;
            }
            return n;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(linear);
        }
    }

    /// <summary>
    /// sendmmsg(2): sends the messages in order, each as sendmsg would, setting each one's
    /// <see cref="MMsgHdr.Len"/>; stops at the first error or partial send. Returns how many were
    /// sent, or the error when none was (as the kernel: an error after the first is lost, the next
    /// call meets it again).
    /// </summary>
    /// <remarks>Mirrors net/socket.c: __sys_sendmmsg() (at most UIO_MAXIOV messages; MSG_BATCH, a hint to the lower layers, is not modelled).</remarks>
    public static int Sendmmsg(FdTable files, int fd, Span<MMsgHdr> msgs, int flags)
    {
        if (files.Lookup(fd) is null) return -Errno.EBADF;
        int vlen = Math.Min(msgs.Length, UIO_MAXIOV);
        int datagrams = 0, err = 0;
        while (datagrams < vlen)
        {
            ref var m = ref msgs[datagrams];
            var msg = new MsgHdr { Name = m.Name, HasName = m.HasName };
            err = Sendmsg(files, fd, ref msg, m.Buffer.Span, flags);
            if (err < 0) break;
            m.Len = err;
            datagrams++;
            if (err < m.Buffer.Length) break; // msg_data_left(): a partial send ends the batch
        }
        return datagrams != 0 ? datagrams : err;
    }

    /// <summary>
    /// recvmmsg(2): receives up to msgs.Length messages, each as recvmsg would (source, control
    /// messages, flags and length in its entry). MSG_WAITFORONE makes every receive after the first
    /// non-blocking; <paramref name="timeoutNs"/> (null: none) ends the batch once spent, checked
    /// after each message as the kernel does, and comes back holding what is left. Returns how many
    /// were received, or the error when none was; an error after the first is kept in sk_err (all
    /// but EAGAIN), for the next call, as the kernel does.
    /// </summary>
    /// <remarks>Mirrors net/socket.c: do_recvmmsg().</remarks>
    public static int Recvmmsg(FdTable files, int fd, Span<MMsgHdr> msgs, int flags, ref long? timeoutNs)
    {
        if ((flags & MSG_CMSG_COMPAT) != 0) return -Errno.EINVAL;
        var sock = files.Lookup(fd);
        if (sock is null) return -Errno.EBADF;
        var net = files.Net;
        if ((flags & MSG_ERRQUEUE) == 0 && sock.Sk is { } sk0)
        {
            int serr;
            using (new SyscallLock(net)) serr = sk0.SockError();
            if (serr != 0) return serr;
        }
        long end = timeoutNs is { } t ? net.NowNs + t : 0;
        int vlen = Math.Min(msgs.Length, UIO_MAXIOV);
        int datagrams = 0, err = 0;
        while (datagrams < vlen)
        {
            ref var m = ref msgs[datagrams];
            var msg = new MsgHdr { HasName = m.HasName, Control = m.Control.Span };
            err = Recvmsg(files, fd, ref msg, m.Buffer.Span, flags & ~MSG_WAITFORONE);
            if (err < 0) break;
            m.Len = err;
            m.Name = msg.Name;
            m.NameLen = msg.NameLen;
            m.Flags = msg.Flags;
            m.ControlLen = msg.ControlLen;
            err = 0; // put_user(msg_len) succeeded
            datagrams++;
            if ((flags & MSG_WAITFORONE) != 0) flags |= MSG_DONTWAIT;
            if (timeoutNs is not null)
            {
                long left = end - net.NowNs;
                timeoutNs = Math.Max(left, 0);
                if (left <= 0) break;
            }
            if ((msg.Flags & MSG_OOB) != 0) break; // out-of-band data: return at once
        }
        if (err == 0) return datagrams;
        if (datagrams == 0) return err;
        // Fewer than asked: the error that ended the batch waits in sk_err for the next call.
        if (err != -Errno.EAGAIN && sock.Sk is { } sk)
            using (new SyscallLock(net)) sk.Err = -err;
        return datagrams;
    }
}
