using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Core;

/// <summary>
/// Generic datagram receive and poll, shared by UDP, ping and raw sockets.
/// <remarks>Mirrors net/core/datagram.c.</remarks>
/// </summary>
public static class Datagram
{
    /// <summary>
    /// Takes (or with MSG_PEEK looks at) the next datagram, waiting up to SO_RCVTIMEO unless
    /// MSG_DONTWAIT. Returns null with <paramref name="err"/> = a pending socket error, -EAGAIN
    /// (nothing and no time left), -EINTR, or 0 (receive side shut down: end of file).
    /// </summary>
    /// <remarks>Mirrors net/core/datagram.c: __skb_recv_datagram() -> __skb_try_recv_datagram() / __skb_wait_for_more_packets().</remarks>
    public static SkBuff? SkbRecvDatagram(Sock sk, int flags, out int err)
    {
        long timeo = sk.SockRcvTimeo((flags & MSG_DONTWAIT) != 0);
        while (true)
        {
            // __skb_try_recv_datagram()
            err = sk.SockError();
            if (err != 0) return null;
            var skb = sk.ReceiveQueue.Peek();
            if (skb is not null)
            {
                if ((flags & MSG_PEEK) == 0) sk.ReceiveQueue.Unlink(skb);
                return skb;
            }
            err = -Errno.EAGAIN;
            if (timeo == 0) return null;
            // __skb_wait_for_more_packets()
            if (SkbWaitForMorePackets(sk, ref err, ref timeo)) return null;
        }
    }

    /// <summary>Sleeps for a packet; returns true (with err set) when the caller should stop.</summary>
    /// <remarks>Mirrors net/core/datagram.c: __skb_wait_for_more_packets().</remarks>
    private static bool SkbWaitForMorePackets(Sock sk, ref int err, ref long timeo)
    {
        // prepare_to_wait_exclusive() with receiver_wake_function: only a wakeup for EPOLLIN or
        // EPOLLERR (or an unkeyed one: a state change) wakes it, and one datagram wakes one reader.
        var task = WaitTask.Current;
        var wait = task.Entry;
        if (wait.Queued) throw new InvalidOperationException("a thread blocks in one socket wait at a time");
        wait.Key = POLLIN | POLLERR;
        task.PrepareToWait();
        sk.Wq.AddExclusive(wait);
        try
        {
            // Socket errors?
            int error = sk.SockError();
            if (error != 0) { err = error; return true; }
            if (!sk.ReceiveQueue.IsEmpty) return false;
            // Socket shut down?
            if ((sk.Shutdown & RCV_SHUTDOWN) != 0) { err = 0; return true; }
            // Sequenced packets can come disconnected. If so we report the problem.
            if (ConnectionBased(sk) && !(sk.State == TcpState.Established || sk.State == TcpState.Listen))
            {
                err = -Errno.ENOTCONN;
                return true;
            }
            // Closed by another thread while we slept: nothing can be delivered to an orphan any more.
            if (sk.HasFlag(SockFlag.Dead)) { err = -Errno.EBADF; return true; }
            int r = SockWait.Sleep(sk.Net, task, ref timeo);
            if (r < 0) { err = r; return true; }
            return false;
        }
        finally
        {
            // finish_wait()
            sk.Wq.Remove(wait);
        }
    }

    /// <remarks>Mirrors net/core/datagram.c: connection_based(): SOCK_SEQPACKET and SOCK_STREAM.</remarks>
    private static bool ConnectionBased(Sock sk) => sk.Type == SOCK_SEQPACKET || sk.Type == SOCK_STREAM;

    /// <summary>The poll mask of a datagram socket.</summary>
    /// <remarks>Mirrors net/core/datagram.c: datagram_poll().</remarks>
    public static int DatagramPoll(BsdSocket sock)
    {
        var sk = sock.Sk;
        if (sk is null) return 0;
        int mask = 0;
        int shutdown = sk.Shutdown;

        // Exceptional events?
        if (sk.Err != 0 || !sk.ErrorQueue.IsEmpty)
            mask |= POLLERR | (sk.HasFlag(SockFlag.SelectErrQueue) ? POLLPRI : 0);
        if ((shutdown & RCV_SHUTDOWN) != 0) mask |= POLLRDHUP | POLLIN | POLLRDNORM;
        if (shutdown == SHUTDOWN_MASK) mask |= POLLHUP;

        // Readable?
        if (!sk.ReceiveQueue.IsEmpty) mask |= POLLIN | POLLRDNORM;

        // Connection-based need to check for termination and startup.
        if (ConnectionBased(sk))
        {
            if (sk.State == TcpState.Close) mask |= POLLHUP;
            // Connection still in progress?
            if (sk.State == TcpState.SynSent) return mask;
        }

        // Writable?
        if (sk.SockWriteable) mask |= POLLOUT | POLLWRNORM | POLLWRBAND;
        else if (sk.Socket is { } s) s.Flags |= 1L << BsdSocket.SockNospace;
        return mask;
    }
}
